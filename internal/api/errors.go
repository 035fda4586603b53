package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/whisk"
)

// statusOf is the one table from error classifications to HTTP statuses.
var statusOf = [...]int{
	whisk.CodeInternal:         http.StatusInternalServerError,
	whisk.CodeBadRequest:       http.StatusBadRequest,
	whisk.CodeUnauthorized:     http.StatusUnauthorized,
	whisk.CodeForbidden:        http.StatusForbidden,
	whisk.CodeNotFound:         http.StatusNotFound,
	whisk.CodeNotAllowed:       http.StatusMethodNotAllowed,
	whisk.CodeConflict:         http.StatusConflict,
	whisk.CodeTooLarge:         http.StatusRequestEntityTooLarge,
	whisk.CodeTooManyRequests:  http.StatusTooManyRequests,
	whisk.CodeUnavailable:      http.StatusServiceUnavailable,
	whisk.CodeBadGateway:       http.StatusBadGateway,
	whisk.CodeAccepted:         http.StatusAccepted,
	whisk.CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	whisk.CodeNotAcceptable:    http.StatusNotAcceptable,
}

// defaultMessage is what OpenWhisk (through akka-http) says for a status
// when no one said anything more specific.
var defaultMessage = map[int]string{
	http.StatusInternalServerError:   "There was an internal server error.",
	http.StatusNotFound:              whisk.MsgNotFound,
	http.StatusForbidden:             "The supplied authentication is not authorized to access this resource.",
	http.StatusUnauthorized:          whisk.MsgUnauthenticated,
	http.StatusMethodNotAllowed:      "HTTP method not allowed, supported methods: GET",
	http.StatusConflict:              whisk.MsgConcurrentUpdate,
	http.StatusRequestEntityTooLarge: "The request content was larger than the allowed size.",
	http.StatusServiceUnavailable:    controller.MsgUnavailable,
	http.StatusAccepted:              "Response not yet ready.",
}

func statusFor(code whisk.Code) int {
	if int(code) >= 0 && int(code) < len(statusOf) && statusOf[code] != 0 {
		return statusOf[code]
	}
	return http.StatusInternalServerError
}

// errorBody is OpenWhisk's error response: code is the transaction id and is
// never null (the Go client reads a 502 without one as the action's error).
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// writeError answers err with its status and OpenWhisk's error body. Errors
// that are not *whisk.Error are internal: the client gets the generic text
// and the log gets the cause.
func (s *Server) writeError(rw *responseWriter, r *http.Request, err error) {
	var werr *whisk.Error
	code := whisk.CodeInternal
	msg := ""
	if errors.As(err, &werr) {
		code, msg = werr.Code, werr.Message
	}
	status := statusFor(code)
	if msg == "" {
		msg = defaultMessage[status]
		if msg == "" {
			msg = http.StatusText(status)
		}
	}
	switch {
	case status >= 500:
		s.log.Error("request failed", "tid", rw.tid, "method", r.Method, "path", r.URL.Path,
			"status", status, "err", err)
	case status == http.StatusTooManyRequests || status == http.StatusRequestEntityTooLarge:
		s.log.Warn("request refused", "tid", rw.tid, "method", r.Method, "path", r.URL.Path,
			"status", status, "err", msg)
	}
	if status == http.StatusUnauthorized {
		rw.Header().Set("WWW-Authenticate", `Basic realm="OpenWhisk secure realm"`)
	}
	body, _ := json.Marshal(errorBody{Error: msg, Code: rw.tid})
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}

// writeJSON answers with status and v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	writeRawJSON(w, status, body)
	return nil
}

func writeRawJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
