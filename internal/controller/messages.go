package controller

import (
	"fmt"
	"strings"

	"github.com/gustfaas/gust/internal/whisk"
)

// OpenWhisk's controller messages, verbatim (apache/openwhisk Messages.scala
// and the akka-http rejection texts it wraps). Messages shared with other
// components live in package whisk.
const (
	MsgConformance       = "Resource by this name exists but is not in this collection."
	MsgExecUndefined     = "exec undefined"
	MsgDocsWithCount     = "The parameter 'docs' is not permitted with 'count'."
	MsgActivationIDBad   = "The activation id is not valid."
	MsgNamespaceIllegal  = "The namespace contains illegal characters."
	MsgSequenceTooLong   = "Too many actions in the sequence."
	MsgSequenceEmpty     = "No component specified for the sequence."
	MsgSequenceCyclic    = "Sequence may not refer to itself."
	MsgSequenceComponent = "Sequence component does not exist."
	MsgKindMissing       = "'kind' must be a string defined in 'exec'"
	MsgComponentsMissing = "'components' must be defined for sequence kind"
	MsgBlackboxImage     = "'image' must be a string defined in 'exec' for 'blackbox' actions"
)

// Malformed is OpenWhisk's 400 for a body that does not decode.
func Malformed(detail string) *whisk.Error {
	return whisk.BadRequest("%s", whisk.MsgMalformed+detail)
}

// MalformedQuery is akka-http's 400 for a query parameter that does not parse.
func MalformedQuery(param, detail string) *whisk.Error {
	return whisk.BadRequest("The query parameter '%s' was malformed:\n%s", param, detail)
}

// TooLarge is OpenWhisk's 413 for a field or body over its limit.
func TooLarge(field string, size, limit int) *whisk.Error {
	return whisk.Errorf(whisk.CodeTooLarge, "%s larger than allowed: %d > %d bytes.", field, size, limit)
}

// ListLimitOutOfRange and friends are OpenWhisk's list paging messages.
func ListLimitOutOfRange(collection string, value, max int) string {
	return fmt.Sprintf("The value '%d' is not in the range of 0 to %d for %s.", value, max, collection)
}

func ListSkipOutOfRange(collection string, value int) string {
	return fmt.Sprintf("The value '%d' is not greater than or equal to 0 for %s.", value, collection)
}

func ArgumentNotInteger(collection, value string) string {
	return fmt.Sprintf("The value '%s' is not an integer for %s.", value, collection)
}

// BadNameFilter rejects an activation list name filter with more than two segments.
func BadNameFilter(value string) string {
	return "Parameter may be a 'simple' name or 'package-name/simple' name: " + value
}

// BadEpoch rejects a since/upto value.
func BadEpoch(value string) string {
	return "Parameter is not a valid value for epoch seconds: " + value
}

// ActivationIDLength rejects an id of the wrong length.
func ActivationIDLength(n int) string {
	return fmt.Sprintf("Activation id length is %d but must be 32.", n)
}

// NameTooLong rejects a path segment longer than an entity name may be.
func NameTooLong(n int) string {
	return fmt.Sprintf("Name segement longer than allowed: %d > %d.", n, whisk.MaxNameLength)
}

func tooManyRequests(count, allowed int) *whisk.Error {
	return whisk.Errorf(whisk.CodeTooManyRequests, "Too many requests in the last minute (count: %d, allowed: %d).", count, allowed)
}

func tooManyConcurrent(count, allowed int) *whisk.Error {
	return whisk.Errorf(whisk.CodeTooManyRequests, "Too many concurrent requests in flight (count: %d, allowed: %d).", count, allowed)
}

func runtimeDeprecated(kind string) *whisk.Error {
	return whisk.BadRequest("The '%s' runtime is no longer supported. You may read and delete but not update or invoke this action.", kind)
}

func invalidRuntime(kind string, valid []string) *whisk.Error {
	return Malformed(fmt.Sprintf("The specified runtime '%s' is not supported by this platform. Valid values are: '%s'.",
		kind, strings.Join(valid, "', '")))
}

func conformance() *whisk.Error { return whisk.Errorf(whisk.CodeConflict, "%s", MsgConformance) }

func concurrentUpdate() *whisk.Error {
	return whisk.Errorf(whisk.CodeConflict, "%s", whisk.MsgConcurrentUpdate)
}

func exists() *whisk.Error { return whisk.Errorf(whisk.CodeConflict, "%s", whisk.MsgExists) }
