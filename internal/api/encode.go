package api

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

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
	dst = appendString(dst, act.Namespace)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, act.Name)
	dst = append(dst, `,"version":`...)
	dst = appendString(dst, act.Version)
	dst = append(dst, `,"subject":`...)
	dst = appendString(dst, act.Subject)
	dst = append(dst, `,"activationId":`...)
	dst = appendString(dst, act.ActivationID)
	if act.Cause != "" {
		dst = append(dst, `,"cause":`...)
		dst = appendString(dst, act.Cause)
	}
	dst = append(dst, `,"start":`...)
	dst = strconv.AppendInt(dst, act.Start, 10)
	if act.End != 0 {
		dst = append(dst, `,"end":`...)
		dst = strconv.AppendInt(dst, act.End, 10)
		dst = append(dst, `,"duration":`...)
		dst = strconv.AppendInt(dst, activationDuration(act), 10)
	}
	dst = append(dst, `,"response":`...)
	dst = appendResponse(dst, &act.Response)
	dst = append(dst, `,"logs":[`...)
	for i, l := range act.Logs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, l)
	}
	dst = append(dst, `],"annotations":`...)
	dst = appendKeyValues(dst, act.Annotations)
	dst = append(dst, `,"publish":`...)
	dst = strconv.AppendBool(dst, act.Publish)
	return append(dst, '}')
}

func activationDuration(act *whisk.Activation) int64 {
	if act.Duration != 0 {
		return act.Duration
	}
	return act.End - act.Start
}

// appendResponse appends OpenWhisk's extended response (also the body of
// GET …/activations/{id}/result).
func appendResponse(dst []byte, r *whisk.Response) []byte {
	dst = append(dst, `{"status":`...)
	status := r.Status
	if status == "" {
		status = r.StatusCode.String()
	}
	dst = appendString(dst, status)
	dst = append(dst, `,"success":`...)
	dst = strconv.AppendBool(dst, r.StatusCode == whisk.StatusSuccess)
	if len(r.Result) > 0 {
		dst = append(dst, `,"result":`...)
		dst = appendRaw(dst, r.Result)
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
		dst = appendString(dst, e.Key)
		dst = append(dst, `,"value":`...)
		dst = appendRaw(dst, e.Value)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendRaw appends a raw JSON value; one that is not valid JSON (it should
// never happen: records are written by the platform) is appended as a string
// rather than breaking the whole response.
func appendRaw(dst []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	if !json.Valid(raw) {
		return appendString(dst, string(raw))
	}
	return append(dst, raw...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// minus its HTML escaping; invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but not valid JavaScript source: escaped as encoding/json does.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
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
		end, d := act.End, activationDuration(act)
		s.End, s.Duration = &end, &d
	}
	return s
}
