// Package whisk is Gust's model of OpenWhisk entities: names, actions, packages,
// triggers, rules, activations and the errors the platform reports. It does no I/O.
package whisk

import (
	"errors"
	"fmt"
)

// Code classifies an error so that one table in the API can map it to an HTTP
// status. Components return *Error values; they never pick status codes.
type Code int

const (
	CodeInternal         Code = iota // 500
	CodeBadRequest                   // 400
	CodeUnauthorized                 // 401
	CodeForbidden                    // 403
	CodeNotFound                     // 404
	CodeNotAllowed                   // 405
	CodeConflict                     // 409
	CodeTooLarge                     // 413
	CodeTooManyRequests              // 429
	CodeUnavailable                  // 503
	CodeBadGateway                   // 502
	CodeAccepted                     // 202, used for "response not yet ready"
	CodeUnsupportedMedia             // 415
	CodeNotAcceptable                // 406
)

// Error is a platform error with a classification and an OpenWhisk message.
type Error struct {
	Code    Code
	Message string
	Err     error // optional cause, not shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) match any error of the same code, so
// stores and components can wrap their own messages around the contract errors.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Contract errors. Compare with errors.Is; they match any *Error of the same code.
var (
	ErrNotFound = &Error{Code: CodeNotFound}
	ErrConflict = &Error{Code: CodeConflict}
)

// OpenWhisk's messages, kept verbatim because clients and users grep for them.
const (
	MsgNotFound              = "The requested resource does not exist."
	MsgExists                = "resource already exists"
	MsgConcurrentUpdate      = "Concurrent modification to resource detected."
	MsgIllegalName           = "The name of the entity contains illegal characters."
	MsgUnauthenticated       = "The supplied authentication is invalid."
	MsgMissingAuth           = "The resource requires authentication, which was not supplied with the request."
	MsgInternal              = "An internal error occurred."
	MsgNoInvokers            = "No invokers available."
	MsgMalformed             = "The request content was malformed:\n"
	MsgNotPermittedOnBinding = "Operation not permitted on package binding."
	MsgFinalParams           = "Request defines parameters that are not allowed (e.g., reserved properties)."
	MsgTimeoutQuery          = "Timeout must be number of milliseconds up to 60000."
	MsgShuttingDown          = "The server is shutting down."
)

// NotFound is the standard 404.
func NotFound() *Error { return &Error{Code: CodeNotFound, Message: MsgNotFound} }

// Forbidden is OpenWhisk's 403 for a resource of another namespace.
func Forbidden(resource string) *Error {
	return Errorf(CodeForbidden, "The supplied authentication is not authorized to access '%s'.", resource)
}

// BadRequest is a 400 with the given message.
func BadRequest(format string, args ...any) *Error { return Errorf(CodeBadRequest, format, args...) }

// CodeOf returns the classification of err, CodeInternal for unclassified errors.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
