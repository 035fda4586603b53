package whisk

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzAppendJSONString checks the hand-written JSON string encoder against
// encoding/json: both must decode to the same string.
func FuzzAppendJSONString(f *testing.F) {
	f.Add("plain")
	f.Add("quote\" backslash\\ tab\t nl\n \x00 \u2028 é \xff")
	f.Fuzz(func(t *testing.T, s string) {
		ours := AppendJSONString(nil, s)
		var got, want string
		if err := json.Unmarshal(ours, &got); err != nil {
			t.Fatalf("AppendJSONString(%q) = %s: not JSON: %v", s, ours, err)
		}
		std, _ := json.Marshal(s)
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("AppendJSONString(%q) decodes to %q, encoding/json to %q", s, got, want)
		}
	})
}

// FuzzActivationAppendJSON checks that the stored form reads back as what
// encoding/json would have stored, for records built from arbitrary strings
// and raw values (valid or not: invalid raw JSON must not corrupt the doc).
func FuzzActivationAppendJSON(f *testing.F) {
	f.Add("guest", "hello", "a\"b", `{"payload":"hi"}`, `"nodejs:20"`, int64(1700000000000), int64(3), 0, true)
	f.Add("", "", "", ``, ``, int64(0), int64(0), 2, false)
	f.Add("ns/pkg", "x\u2028", "log\n\x01", `[1,2]`, `{bad`, int64(-1), int64(1), 3, true)
	f.Fuzz(func(t *testing.T, ns, name, log, result, annotation string, start, duration int64, status int, withLogs bool) {
		a := &Activation{
			Namespace: ns, Name: name, Version: "0.0.1", Subject: ns, ActivationID: NewActivationID(),
			Cause: name, Start: start, End: start + duration, Duration: duration, StatusCode: status,
			Response: NewResponse(StatusCode(status), json.RawMessage(result)),
			Annotations: KeyValues{
				{Key: "path", Value: json.RawMessage(annotation)},
				{Key: log, Value: json.RawMessage(`true`), Init: withLogs, Encryption: name},
				{Key: "none"},
			},
			Publish: withLogs,
		}
		if withLogs {
			a.Logs = []string{log, name}
		}
		ours := a.AppendJSON(nil)
		var got Activation
		if err := json.Unmarshal(ours, &got); err != nil {
			t.Fatalf("AppendJSON = %s: not JSON: %v", ours, err)
		}
		if json.Valid([]byte(result)) && json.Valid([]byte(annotation)) {
			std, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			var want Activation
			if err := json.Unmarshal(std, &want); err != nil {
				t.Fatal(err)
			}
			// Raw values keep their bytes in ours; encoding/json compacts them.
			normalize(&got)
			normalize(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("AppendJSON reads back as\n%+v\nencoding/json as\n%+v\n(%s)", got, want, ours)
			}
		}
	})
}

func normalize(a *Activation) {
	a.Response.Result = compact(a.Response.Result)
	for i := range a.Annotations {
		a.Annotations[i].Value = compact(a.Annotations[i].Value)
	}
}

func compact(raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

// TestSetEncodesAsEncodingJSON checks the hand-encoded annotation values
// against encoding/json.
func TestSetEncodesAsEncodingJSON(t *testing.T) {
	for _, v := range []any{"guest/pkg/a&b<c>", "é\u2028\x01", true, false, 0, -7, int64(1) << 40,
		Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}, []string{"x"}, map[string]int{"a": 1}, nil} {
		got := KeyValues{}.Set("k", v)[0].Value
		want, _ := json.Marshal(v)
		var g, w any
		if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil || !reflect.DeepEqual(g, w) {
			t.Errorf("Set(%#v) = %s, encoding/json says %s", v, got, want)
		}
	}
}
