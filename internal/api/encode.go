package api

import (
	"strconv"

	"github.com/gustfaas/gust/internal/whisk"
)

// This file encodes activation records by hand: a blocking invoke answers
// with one, and encoding/json would reflect over the struct and re-scan
// every raw value on each response.
//
// The wire form is OpenWhisk's extended activation JSON (spec §4.1): no
// top-level statusCode, response as {status, success, result, size?}, end and
// duration only when the activation ended, logs and annotations always
// arrays.

func itoa[T int | int64](n T) string { return strconv.FormatInt(int64(n), 10) }

// encodeActivation appends act's extended JSON to dst.
func encodeActivation(dst []byte, act *whisk.Activation) []byte {
	if dst == nil {
		dst = make([]byte, 0, 512+len(act.Response.Result))
	}
	dst = append(dst, `{"namespace":`...)
	dst = whisk.AppendJSONString(dst, act.Namespace)
	dst = append(dst, `,"name":`...)
	dst = whisk.AppendJSONString(dst, act.Name)
	dst = append(dst, `,"version":`...)
	dst = whisk.AppendJSONString(dst, act.Version)
	dst = append(dst, `,"subject":`...)
	dst = whisk.AppendJSONString(dst, act.Subject)
	dst = append(dst, `,"activationId":`...)
	dst = whisk.AppendJSONString(dst, act.ActivationID)
	if act.Cause != "" {
		dst = append(dst, `,"cause":`...)
		dst = whisk.AppendJSONString(dst, act.Cause)
	}
	dst = append(dst, `,"start":`...)
	dst = strconv.AppendInt(dst, act.Start, 10)
	if act.End != 0 {
		dst = append(dst, `,"end":`...)
		dst = strconv.AppendInt(dst, act.End, 10)
		dst = append(dst, `,"duration":`...)
		dst = strconv.AppendInt(dst, act.Duration, 10)
	}
	dst = append(dst, `,"response":`...)
	dst = appendResponse(dst, &act.Response)
	dst = append(dst, `,"logs":[`...)
	for i, l := range act.Logs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = whisk.AppendJSONString(dst, l)
	}
	dst = append(dst, `],"annotations":`...)
	dst = appendKeyValues(dst, act.Annotations)
	dst = append(dst, `,"publish":`...)
	dst = strconv.AppendBool(dst, act.Publish)
	return append(dst, '}')
}

// appendResponse appends OpenWhisk's extended response (also the body of
// GET …/activations/{id}/result).
func appendResponse(dst []byte, r *whisk.Response) []byte {
	dst = append(dst, `{"status":`...)
	status := r.Status
	if status == "" {
		status = r.StatusCode.String()
	}
	dst = whisk.AppendJSONString(dst, status)
	dst = append(dst, `,"success":`...)
	dst = strconv.AppendBool(dst, r.StatusCode == whisk.StatusSuccess)
	if len(r.Result) > 0 {
		dst = append(dst, `,"result":`...)
		dst = whisk.AppendRawJSON(dst, r.Result)
	}
	if r.Size > 0 {
		dst = append(dst, `,"size":`...)
		dst = strconv.AppendInt(dst, int64(r.Size), 10)
	}
	return append(dst, '}')
}

func appendKeyValues(dst []byte, kv whisk.KeyValues) []byte {
	dst = append(dst, '[')
	for i, e := range kv {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = whisk.AppendJSONString(dst, e.Key)
		dst = append(dst, `,"value":`...)
		dst = whisk.AppendRawJSON(dst, e.Value)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// activationSummary is an item of an activation list without docs
// (OpenWhisk's activations view): top-level statusCode is what
// `wsk activation list` shows.
type activationSummary struct {
	Namespace    string          `json:"namespace"`
	Name         string          `json:"name"`
	Version      string          `json:"version"`
	Publish      bool            `json:"publish"`
	Annotations  whisk.KeyValues `json:"annotations"`
	ActivationID string          `json:"activationId"`
	Start        int64           `json:"start"`
	End          *int64          `json:"end,omitempty"`
	Duration     *int64          `json:"duration,omitempty"`
	Cause        string          `json:"cause,omitempty"`
	StatusCode   int             `json:"statusCode"`
}

func summarize(act *whisk.Activation) activationSummary {
	s := activationSummary{
		Namespace: act.Namespace, Name: act.Name, Version: act.Version, Publish: act.Publish,
		Annotations: act.Annotations, ActivationID: act.ActivationID, Start: act.Start,
		Cause: act.Cause, StatusCode: int(act.Response.StatusCode),
	}
	if act.End != 0 {
		end, d := act.End, act.Duration
		s.End, s.Duration = &end, &d
	}
	return s
}
