package whisk

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// StatusCode is an activation's outcome.
type StatusCode int

const (
	StatusSuccess          StatusCode = 0
	StatusApplicationError StatusCode = 1
	StatusDeveloperError   StatusCode = 2
	StatusInternalError    StatusCode = 3
)

// String is OpenWhisk's API spelling of the status.
func (s StatusCode) String() string {
	switch s {
	case StatusSuccess:
		return "success"
	case StatusApplicationError:
		return "application error"
	case StatusDeveloperError:
		return "action developer error"
	default:
		return "whisk internal error"
	}
}

// Developer-error messages, verbatim from OpenWhisk.
const (
	MsgTimedOut        = "The action exceeded its time limits of %d milliseconds."
	MsgInitTimedOut    = "The action exceeded its time limits of %d milliseconds during initialization."
	MsgNotJSON         = "The action did not produce a valid JSON or JSON Array response."
	MsgExitedUnexpect  = "The action did not produce a valid response and exited unexpectedly."
	MsgMemoryExhausted = "The action exhausted its memory and was aborted."
	MsgNotDictionary   = "The action did not return a dictionary or array."
	MsgResultTooLarge  = "The action produced a response that exceeded the allowed length: %d > %d bytes."
	MsgLogsTruncated   = "Logs were truncated because the total bytes size exceeds the limit of %d bytes."
	MsgAbnormalRun     = "The action did not initialize or run as expected. Log data might be missing."
)

// Response is an activation's result. Stored and returned in the API's form:
// {status, statusCode, success, result, size}; clients ignore what they don't know.
type Response struct {
	StatusCode StatusCode      `json:"statusCode"`
	Status     string          `json:"status"`
	Success    bool            `json:"success"`
	Result     json.RawMessage `json:"result,omitempty"`
	Size       int             `json:"size,omitempty"`
}

// NewResponse builds a response, computing status strings and size.
func NewResponse(code StatusCode, result json.RawMessage) Response {
	return Response{StatusCode: code, Status: code.String(), Success: code == StatusSuccess, Result: result, Size: len(result)}
}

// ErrorResponse builds a response whose result is {"error": msg}.
func ErrorResponse(code StatusCode, msg string) Response {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return NewResponse(code, b)
}

// Activation is an activation record.
type Activation struct {
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	Version      string    `json:"version"`
	Subject      string    `json:"subject"`
	ActivationID string    `json:"activationId"`
	Cause        string    `json:"cause,omitempty"`
	Start        int64     `json:"start"`
	End          int64     `json:"end,omitempty"`
	Duration     int64     `json:"duration,omitempty"`
	StatusCode   int       `json:"statusCode"`
	Response     Response  `json:"response"`
	Logs         []string  `json:"logs"`
	Annotations  KeyValues `json:"annotations"`
	Publish      bool      `json:"publish"`
}

// NewActivationID returns 32 lowercase hex characters, OpenWhisk's form: the
// first 12 are the current Unix time in milliseconds and the other 20 are
// random (80 bits). Ids that grow with time land at the right edge of the
// stores' unique index on the id, so a batch of records dirties a page or two
// of that index instead of one random page per record, which made the id
// index the largest part of every commit. Clients treat ids as opaque.
func NewActivationID() string {
	var b [16]byte
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	_, _ = rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}

// ValidActivationID reports whether id has OpenWhisk's form.
func ValidActivationID(id string) bool {
	if len(id) != 32 {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f')
	}) < 0
}
