package invoker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gustfaas/gust/internal/sandbox"
	"github.com/gustfaas/gust/internal/whisk"
)

// logTimeLayout is OpenWhisk's fixed-width RFC 3339 timestamp: nanoseconds are
// always printed, so log lines align and sort as text.
const logTimeLayout = "2006-01-02T15:04:05.000000000Z"

func formatLogs(dst []string, lines []sandbox.LogLine) []string {
	for _, l := range lines {
		dst = append(dst, l.Time.UTC().Format(logTimeLayout)+" "+l.Stream+": "+l.Text)
	}
	return dst
}

func logLine(now time.Time, stream, text string) string {
	return now.UTC().Format(logTimeLayout) + " " + stream + ": " + text
}

// classifyRun decides whose fault an outcome was — the one place that does.
// It returns the response and whether the sandbox may serve again.
func classifyRun(reply sandbox.Reply, timeoutMs int, maxResult int) (whisk.Response, bool) {
	switch {
	case reply.OOM:
		return whisk.ErrorResponse(whisk.StatusDeveloperError, whisk.MsgMemoryExhausted), false
	case reply.TimedOut:
		return whisk.ErrorResponse(whisk.StatusDeveloperError, fmt.Sprintf(whisk.MsgTimedOut, timeoutMs)), false
	case reply.Line == nil:
		return whisk.ErrorResponse(whisk.StatusDeveloperError, whisk.MsgExitedUnexpect), false
	}
	line := bytes.TrimSpace(reply.Line)
	if len(line) > maxResult {
		return whisk.ErrorResponse(whisk.StatusApplicationError,
			fmt.Sprintf(whisk.MsgResultTooLarge, len(line), maxResult)), !reply.Exited
	}
	if len(line) == 0 || (line[0] != '{' && line[0] != '[') || !json.Valid(line) {
		return whisk.ErrorResponse(whisk.StatusDeveloperError, whisk.MsgNotJSON), false
	}
	result := json.RawMessage(bytes.Clone(line))
	if line[0] == '{' && hasTopLevelKey(result, "error") {
		return whisk.NewResponse(whisk.StatusApplicationError, result), !reply.Exited
	}
	return whisk.NewResponse(whisk.StatusSuccess, result), !reply.Exited
}

// classifyInit interprets the reply to an init line or a start-up ack.
func classifyInit(reply sandbox.Reply, timeoutMs int) (whisk.Response, bool) {
	switch {
	case reply.OOM:
		return whisk.ErrorResponse(whisk.StatusDeveloperError, whisk.MsgMemoryExhausted), false
	case reply.TimedOut:
		return whisk.ErrorResponse(whisk.StatusDeveloperError, fmt.Sprintf(whisk.MsgInitTimedOut, timeoutMs)), false
	case reply.Line == nil:
		return whisk.ErrorResponse(whisk.StatusDeveloperError, whisk.MsgExitedUnexpect), false
	}
	var ack struct {
		OK    bool            `json:"ok"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(reply.Line, &ack); err != nil {
		return whisk.ErrorResponse(whisk.StatusDeveloperError, whisk.MsgNotJSON), false
	}
	if !ack.OK {
		if len(ack.Error) > 0 {
			b, _ := json.Marshal(map[string]json.RawMessage{"error": ack.Error})
			return whisk.NewResponse(whisk.StatusDeveloperError, b), false
		}
		return whisk.ErrorResponse(whisk.StatusDeveloperError, "Initialization has failed."), false
	}
	return whisk.Response{}, true
}

// hasTopLevelKey reports whether a JSON object has key at its top level,
// without decoding the values.
func hasTopLevelKey(obj json.RawMessage, key string) bool {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		if k, _ := t.(string); k == key {
			return true
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return false
		}
	}
	return false
}

// runLine builds the action-loop request: OpenWhisk's /run body on one line.
func runLine(msg *whisk.ActivationMessage, deadline time.Time, withKey bool) []byte {
	args := msg.Args
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage("{}")
	}
	b := make([]byte, 0, len(args)+256)
	b = append(b, `{"value":`...)
	b = append(b, compactJSON(args)...)
	b = appendField(b, "namespace", msg.Identity.Namespace)
	b = appendField(b, "action_name", msg.ActionFQN.String())
	version := ""
	if msg.Action != nil {
		version = msg.Action.Version
	}
	b = appendField(b, "action_version", version)
	b = appendField(b, "activation_id", msg.ActivationID)
	b = appendField(b, "transaction_id", msg.TransactionID)
	b = appendField(b, "deadline", strconv.FormatInt(deadline.UnixMilli(), 10))
	if withKey && msg.APIKey != "" {
		b = appendField(b, "api_key", msg.APIKey)
	}
	return append(b, '}')
}

func appendField(b []byte, key, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return whisk.AppendJSONString(b, value)
}

// compactJSON removes newlines so that the value fits on one protocol line;
// it copies only when there is something to remove.
func compactJSON(v json.RawMessage) []byte {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return v
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return []byte("{}")
	}
	return buf.Bytes()
}
