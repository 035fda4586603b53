package whisk

import "encoding/json"

// TriggerPut is the body of PUT .../triggers/{name}. Limits is accepted and
// ignored beyond its shape: triggers have no limits yet, OpenWhisk stores {}.
type TriggerPut struct {
	Parameters  KeyValues       `json:"parameters,omitempty"`
	Annotations KeyValues       `json:"annotations,omitempty"`
	Limits      json.RawMessage `json:"limits,omitempty"`
	Version     *string         `json:"version,omitempty"`
	Publish     *bool           `json:"publish,omitempty"`
}

// RulePut is the body of PUT .../rules/{name}. Trigger and action are kept
// raw because clients send either a name ("/ns/t", "ns/pkg/a") or the
// stored {path, name} form; status in a body is ignored, as in OpenWhisk.
type RulePut struct {
	Trigger     json.RawMessage `json:"trigger,omitempty"`
	Action      json.RawMessage `json:"action,omitempty"`
	Version     *string         `json:"version,omitempty"`
	Publish     *bool           `json:"publish,omitempty"`
	Annotations KeyValues       `json:"annotations,omitempty"`
}

// AnnoFeed marks a trigger created through a feed; its value is the feed
// action's name. Clients read it to drive the feed's READ and DELETE events.
const AnnoFeed = "feed"

// Ref is the {path, name} reference of an entity named by fqn.
func Ref(fqn FQN) EntityRef { return EntityRef{Path: fqn.Path(), Name: fqn.Name} }
