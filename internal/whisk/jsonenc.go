package whisk

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Activation records are encoded by hand: the stores write one per invocation
// and the API answers with one, and encoding/json reflects over the struct and
// re-scans every raw value (annotations, result) through MarshalJSON.

// AppendJSON appends the record's stored form to dst: what json.Marshal makes
// of it, field for field, so that json.Unmarshal reads it back unchanged.
func (a *Activation) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"namespace":`...)
	dst = AppendJSONString(dst, a.Namespace)
	dst = append(dst, `,"name":`...)
	dst = AppendJSONString(dst, a.Name)
	dst = append(dst, `,"version":`...)
	dst = AppendJSONString(dst, a.Version)
	dst = append(dst, `,"subject":`...)
	dst = AppendJSONString(dst, a.Subject)
	dst = append(dst, `,"activationId":`...)
	dst = AppendJSONString(dst, a.ActivationID)
	if a.Cause != "" {
		dst = append(dst, `,"cause":`...)
		dst = AppendJSONString(dst, a.Cause)
	}
	dst = append(dst, `,"start":`...)
	dst = strconv.AppendInt(dst, a.Start, 10)
	if a.End != 0 {
		dst = append(dst, `,"end":`...)
		dst = strconv.AppendInt(dst, a.End, 10)
	}
	if a.Duration != 0 {
		dst = append(dst, `,"duration":`...)
		dst = strconv.AppendInt(dst, a.Duration, 10)
	}
	dst = append(dst, `,"statusCode":`...)
	dst = strconv.AppendInt(dst, int64(a.StatusCode), 10)
	dst = append(dst, `,"response":{"statusCode":`...)
	r := &a.Response
	dst = strconv.AppendInt(dst, int64(r.StatusCode), 10)
	dst = append(dst, `,"status":`...)
	dst = AppendJSONString(dst, r.Status)
	dst = append(dst, `,"success":`...)
	dst = strconv.AppendBool(dst, r.Success)
	if len(r.Result) > 0 {
		dst = append(dst, `,"result":`...)
		dst = AppendRawJSON(dst, r.Result)
	}
	if r.Size != 0 {
		dst = append(dst, `,"size":`...)
		dst = strconv.AppendInt(dst, int64(r.Size), 10)
	}
	dst = append(dst, `},"logs":`...)
	if a.Logs == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, l := range a.Logs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendJSONString(dst, l)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"annotations":`...)
	dst = a.Annotations.AppendJSON(dst)
	dst = append(dst, `,"publish":`...)
	dst = strconv.AppendBool(dst, a.Publish)
	return append(dst, '}')
}

// AppendJSON appends OpenWhisk's [{key,value}] array, [] for nil, as
// MarshalJSON does.
func (kv KeyValues) AppendJSON(dst []byte) []byte {
	dst = append(dst, '[')
	for i, e := range kv {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = AppendJSONString(dst, e.Key)
		dst = append(dst, `,"value":`...)
		dst = AppendRawJSON(dst, e.Value)
		if e.Init {
			dst = append(dst, `,"init":true`...)
		}
		if e.Encryption != "" {
			dst = append(dst, `,"encryption":`...)
			dst = AppendJSONString(dst, e.Encryption)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// AppendRawJSON appends a raw JSON value; one that is not valid JSON (it should
// never happen: records are written by the platform) is appended as a string
// rather than breaking the whole response.
func AppendRawJSON(dst []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	if !json.Valid(raw) {
		return AppendJSONString(dst, string(raw))
	}
	return append(dst, raw...)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaping as encoding/json does
// minus its HTML escaping; invalid UTF-8 becomes U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
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
