package whisk

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
)

// KeyValue is one parameter or annotation. Values stay raw JSON so that they
// round-trip byte for byte and are never decoded on the hot path.
type KeyValue struct {
	Key        string          `json:"key"`
	Value      json.RawMessage `json:"value"`
	Init       bool            `json:"init,omitempty"`
	Encryption string          `json:"encryption,omitempty"`
}

// KeyValues is OpenWhisk's [{key,value}] array. It marshals nil as [].
type KeyValues []KeyValue

func (kv KeyValues) MarshalJSON() ([]byte, error) {
	if kv == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]KeyValue(kv))
}

// Get returns the raw value of key, or nil.
func (kv KeyValues) Get(key string) json.RawMessage {
	for i := len(kv) - 1; i >= 0; i-- {
		if kv[i].Key == key {
			return kv[i].Value
		}
	}
	return nil
}

// Has reports whether key is present.
func (kv KeyValues) Has(key string) bool { return kv.Get(key) != nil }

// IsTruthy reports whether key's value is JSON-truthy (true, a non-empty string,
// a non-zero number, an object or array), as OpenWhisk reads boolean annotations.
func (kv KeyValues) IsTruthy(key string) bool { return Truthy(kv.Get(key)) }

// GetString returns key's value when it is a JSON string.
func (kv KeyValues) GetString(key string) (string, bool) {
	v := kv.Get(key)
	var s string
	if v == nil || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// Set replaces or appends key.
func (kv KeyValues) Set(key string, value any) KeyValues {
	raw := appendValue(nil, value)
	for i := range kv {
		if kv[i].Key == key {
			kv[i].Value = raw
			return kv
		}
	}
	return append(kv, KeyValue{Key: key, Value: raw})
}

// appendValue appends value as JSON, by hand for the types the invoke path
// annotates every record with (encoding/json was 2% of a warm invoke's CPU
// for them), through encoding/json for anything else.
func appendValue(dst []byte, value any) []byte {
	switch v := value.(type) {
	case string:
		return AppendJSONString(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	case int:
		return strconv.AppendInt(dst, int64(v), 10)
	case int64:
		return strconv.AppendInt(dst, v, 10)
	case Limits:
		return v.AppendJSON(dst)
	}
	raw, _ := json.Marshal(value)
	return append(dst, raw...)
}

// Merge returns kv overlaid by over: keys of over replace those of kv in place,
// new keys are appended in over's order.
func (kv KeyValues) Merge(over KeyValues) KeyValues {
	out := make(KeyValues, 0, len(kv)+len(over))
	out = append(out, kv...)
	for _, o := range over {
		replaced := false
		for i := range out {
			if out[i].Key == o.Key {
				out[i] = o
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, o)
		}
	}
	return out
}

// Without returns kv with the given keys removed.
func (kv KeyValues) Without(keys ...string) KeyValues {
	out := make(KeyValues, 0, len(kv))
next:
	for _, e := range kv {
		for _, k := range keys {
			if e.Key == k {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// Object renders kv as a JSON object map (init parameters excluded when skipInit).
func (kv KeyValues) Object(skipInit bool) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, len(kv))
	for _, e := range kv {
		if skipInit && e.Init {
			continue
		}
		m[e.Key] = e.Value
	}
	return m
}

// Truthy is JavaScript-like truthiness of a raw JSON value, absent = false.
func Truthy(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return false
	}
	switch v[0] {
	case 't', '{', '[':
		return true
	case 'f', 'n':
		return false
	case '"':
		return len(v) > 2
	default:
		f, err := strconv.ParseFloat(string(v), 64)
		return err == nil && f != 0
	}
}

// Exec is an action's executable part.
type Exec struct {
	Kind       string   `json:"kind"`
	Code       *string  `json:"code,omitempty"`
	Image      string   `json:"image,omitempty"`
	Main       string   `json:"main,omitempty"`
	Binary     bool     `json:"binary"`
	Components []string `json:"components,omitempty"`
}

// Exec kinds that are not runtimes.
const (
	KindSequence = "sequence"
	KindBlackbox = "blackbox"
)

// IsBase64 computes OpenWhisk's `binary` flag: trimmed code that is non-empty,
// a multiple of four long and valid base64.
func IsBase64(code string) bool {
	c := strings.TrimSpace(code)
	if c == "" || len(c)%4 != 0 {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(c)
	return err == nil
}

// CodeString returns the code or "".
func (e *Exec) CodeString() string {
	if e == nil || e.Code == nil {
		return ""
	}
	return *e.Code
}

// Limits are an action's resource limits.
type Limits struct {
	Timeout     int `json:"timeout"`     // ms
	Memory      int `json:"memory"`      // MB
	Logs        int `json:"logs"`        // MB
	Concurrency int `json:"concurrency"` // activations per sandbox
}

// AppendJSON appends l as encoding/json would.
func (l Limits) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"timeout":`...)
	dst = strconv.AppendInt(dst, int64(l.Timeout), 10)
	dst = append(dst, `,"memory":`...)
	dst = strconv.AppendInt(dst, int64(l.Memory), 10)
	dst = append(dst, `,"logs":`...)
	dst = strconv.AppendInt(dst, int64(l.Logs), 10)
	dst = append(dst, `,"concurrency":`...)
	dst = strconv.AppendInt(dst, int64(l.Concurrency), 10)
	return append(dst, '}')
}

// LimitsPut is a partial Limits from a request body; nil fields keep old values.
type LimitsPut struct {
	Timeout     *int `json:"timeout,omitempty"`
	Memory      *int `json:"memory,omitempty"`
	Logs        *int `json:"logs,omitempty"`
	Concurrency *int `json:"concurrency,omitempty"`
}

// Action is a stored action document.
type Action struct {
	Namespace   string    `json:"namespace"` // "ns" or "ns/pkg"
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Publish     bool      `json:"publish"`
	Exec        Exec      `json:"exec"`
	Parameters  KeyValues `json:"parameters"`
	Limits      Limits    `json:"limits"`
	Annotations KeyValues `json:"annotations"`
	Updated     int64     `json:"updated"`
}

// FQN returns the action's fully qualified name.
func (a *Action) FQN() FQN {
	ns, pkg := SplitPath(a.Namespace)
	return FQN{Namespace: ns, Package: pkg, Name: a.Name}
}

// ActionPut is the body of PUT .../actions/{name}.
type ActionPut struct {
	Exec           *Exec      `json:"exec,omitempty"`
	Parameters     KeyValues  `json:"parameters,omitempty"`
	Limits         *LimitsPut `json:"limits,omitempty"`
	Version        *string    `json:"version,omitempty"`
	Publish        *bool      `json:"publish,omitempty"`
	Annotations    KeyValues  `json:"annotations,omitempty"`
	DelAnnotations []string   `json:"delAnnotations,omitempty"`
}

// Binding names the package a binding refers to.
type Binding struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// IsZero reports whether b is empty (a plain package).
func (b *Binding) IsZero() bool { return b == nil || b.Name == "" }

// Package is a stored package or package binding.
type Package struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Publish     bool      `json:"publish"`
	Annotations KeyValues `json:"annotations"`
	Parameters  KeyValues `json:"parameters"`
	Binding     Binding   `json:"binding"`
	Updated     int64     `json:"updated"`
}

// PackagePut is the body of PUT .../packages/{name}.
type PackagePut struct {
	Binding     *Binding  `json:"binding,omitempty"`
	Parameters  KeyValues `json:"parameters,omitempty"`
	Version     *string   `json:"version,omitempty"`
	Publish     *bool     `json:"publish,omitempty"`
	Annotations KeyValues `json:"annotations,omitempty"`
}

// ReducedRule is a trigger's view of a rule attached to it.
type ReducedRule struct {
	Action EntityRef `json:"action"`
	Status string    `json:"status"`
}

// EntityRef is {path, name} as rules reference triggers and actions.
type EntityRef struct {
	Path string `json:"path"`
	Name string `json:"name"`
}

// FQN returns the referenced entity's name.
func (r EntityRef) FQN() FQN {
	ns, pkg := SplitPath(r.Path)
	return FQN{Namespace: ns, Package: pkg, Name: r.Name}
}

// Rule statuses.
const (
	RuleActive   = "active"
	RuleInactive = "inactive"
)

// Trigger is a stored trigger.
type Trigger struct {
	Namespace   string                 `json:"namespace"`
	Name        string                 `json:"name"`
	Version     string                 `json:"version"`
	Publish     bool                   `json:"publish"`
	Annotations KeyValues              `json:"annotations"`
	Parameters  KeyValues              `json:"parameters"`
	Limits      struct{}               `json:"limits"`
	Rules       map[string]ReducedRule `json:"rules,omitempty"`
	Updated     int64                  `json:"updated"`
}

// Rule is a stored rule; its status lives in the trigger's Rules map.
type Rule struct {
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Version     string    `json:"version"`
	Publish     bool      `json:"publish"`
	Annotations KeyValues `json:"annotations"`
	Status      string    `json:"status,omitempty"`
	Trigger     EntityRef `json:"trigger"`
	Action      EntityRef `json:"action"`
	Updated     int64     `json:"updated"`
}

// DefaultVersion is the version of a new entity.
const DefaultVersion = "0.0.1"

// BumpVersion increments the patch number of a semver string.
func BumpVersion(v string) string {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return DefaultVersion
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return DefaultVersion
	}
	return parts[0] + "." + parts[1] + "." + strconv.Itoa(n+1)
}
