package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWriteYAMLKeepsOrderAndTypes(t *testing.T) {
	raw := `{"name":"hello","version":"0.0.1","flag":"true","num":"42","n":42,"ok":true,"none":null,
"list":[1,"two",{"k":"v"}],"empty":{},"text":"line one\nline two","colon":"a: b"}`
	var out bytes.Buffer
	if err := writeYAML(&out, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	want := `name: hello
version: 0.0.1
flag: "true"
num: "42"
n: 42
ok: true
none: null
list:
  - 1
  - two
  - k: v
empty: {}
text: "line one\nline two"
colon: 'a: b'
`
	if out.String() != want {
		t.Fatalf("yaml:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var out bytes.Buffer
	if err := writeJSON(&out, []byte(` {"b":1,"a":[true]} `)); err != nil {
		t.Fatal(err)
	}
	if out.String() != "{\n    \"b\": 1,\n    \"a\": [\n        true\n    ]\n}\n" {
		t.Fatalf("json %q", out.String())
	}
	if err := writeJSON(&out, []byte("<html>")); err == nil {
		t.Fatal("wrote non-JSON")
	}
}

func TestWrapList(t *testing.T) {
	got := wrapList([]string{"alpha", "beta", "gamma", "delta"}, "  ", 16)
	if got != "  alpha, beta,\n  gamma, delta" {
		t.Fatalf("%q", got)
	}
}

func TestTimeFlag(t *testing.T) {
	now := time.Date(2024, 5, 29, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want int64
	}{
		{"1717000000123", 1717000000123},
		{"2024-05-29T11:00:00Z", now.Add(-time.Hour).UnixMilli()},
		{"90m", now.Add(-90 * time.Minute).UnixMilli()},
	}
	for _, tc := range cases {
		f := &timeFlag{now: func() time.Time { return now }}
		if err := f.Set(tc.in); err != nil || f.ms != tc.want {
			t.Errorf("Set(%q) = %d, %v; want %d", tc.in, f.ms, err, tc.want)
		}
	}
	f := &timeFlag{now: time.Now}
	if err := f.Set("yesterday"); err == nil || !strings.Contains(err.Error(), "epoch milliseconds") {
		t.Errorf("Set(yesterday) = %v", err)
	}
}

func TestProgressIsSilentWithoutTerminal(t *testing.T) {
	var errOut bytes.Buffer
	a := &app{stderr: &errOut}
	stop := a.progress("waiting")
	stop()
	stop() // twice is harmless
	if errOut.Len() != 0 {
		t.Fatalf("progress wrote %q to a non-terminal", errOut.String())
	}
}
