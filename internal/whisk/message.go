package whisk

import (
	"encoding/json"
	"time"
)

// ActivationMessage asks an invoker to run one activation. It travels in
// process or, in cluster mode, over the bus; Action travels by name and
// revision there, so that messages stay small.
type ActivationMessage struct {
	ActivationID  string            `json:"activationId"`
	TransactionID string            `json:"transactionId"`
	Identity      Identity          `json:"identity"` // the caller, who owns the activation record
	ActionFQN     FQN               `json:"action"`   // the executed action (bindings resolved)
	ActionRev     int64             `json:"actionRev"`
	Action        *Action           `json:"-"`    // the action document when it is at hand
	Args          json.RawMessage   `json:"args"` // merged arguments, init parameters removed
	InitEnv       map[string]string `json:"initEnv,omitempty"`
	Cause         string            `json:"cause,omitempty"`
	Blocking      bool              `json:"blocking"`
	// ExtraAnnotations are added to the record (binding, causedBy, ...).
	ExtraAnnotations KeyValues `json:"extraAnnotations,omitempty"`
	APIKey           string    `json:"apiKey,omitempty"` // passed to the function only when provide-api-key allows
	Received         time.Time `json:"received"`
	// ReplyTo is where the invoker that records the activation sends its
	// record (cluster mode: the controller's completion subject); empty when
	// nobody waits for it.
	ReplyTo string `json:"replyTo,omitempty"`
	// ActionUpdated is the action's Updated (epoch ms) when the message was
	// made: with ActionRev it names one version of the action, so that an
	// invoker may keep the version it loaded. 0 when unknown.
	ActionUpdated int64 `json:"actionUpdated,omitempty"`
	// OnRecorded, when set, is called once the activation record is durable;
	// the durable queue acknowledges the work then and not before (P3).
	OnRecorded func() `json:"-"`
	// OnAbandoned, when set, is called instead of recording the activation
	// when a shutdown that would not wait any longer cut it off: durable
	// work goes back to its queue to run again (P2) rather than being
	// recorded as the action's failure.
	OnAbandoned func() `json:"-"`
}
