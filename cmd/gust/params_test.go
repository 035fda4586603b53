package main

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestJSONValue(t *testing.T) {
	cases := []struct{ in, want string }{
		{"Ada", `"Ada"`},
		{"3", `3`},
		{"-1.5e3", `-1.5e3`},
		{"true", `true`},
		{"null", `null`},
		{`{ "a" : [1, 2] }`, `{"a":[1,2]}`},
		{`"3"`, `"3"`},
		{"007", `"007"`},
		{"", `""`},
		{"a <b> & c", `"a <b> & c"`},
		{"{not json", `"{not json"`},
	}
	for _, tc := range cases {
		if got := string(jsonValue(tc.in)); got != tc.want {
			t.Errorf("jsonValue(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestExpandKeyValueFlags(t *testing.T) {
	cases := []struct {
		name string
		in   []string
		want []string
		err  string
	}{
		{
			name: "params and annotations",
			in:   []string{"action", "create", "x", "x.js", "-p", "name", "Ada", "--param", "n", "3", "-a", "description", "says hi"},
			want: []string{"action", "create", "x", "x.js", `--param={"name":"Ada"}`, `--param={"n":3}`, `--annotation={"description":"says hi"}`},
		},
		{
			name: "a value that looks like a flag is a value",
			in:   []string{"invoke", "x", "-p", "flag", "-r"},
			want: []string{"invoke", "x", `--param={"flag":"-r"}`},
		},
		{
			name: "after -- nothing is rewritten",
			in:   []string{"x", "--", "-p", "a", "b"},
			want: []string{"x", "--", "-p", "a", "b"},
		},
		{
			name: "other flags untouched",
			in:   []string{"-P", "file.json", "-r"},
			want: []string{"-P", "file.json", "-r"},
		},
		{name: "missing value", in: []string{"invoke", "x", "-p", "name"}, err: "-p takes two arguments, a KEY and a VALUE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := expandKeyValueFlags(tc.in)
			if tc.err != "" {
				var ee *exitError
				if err == nil || err.Error() != tc.err || !errors.As(err, &ee) || ee.code != exitUsage {
					t.Fatalf("err = %v, want usage error %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestKeyValuesMergeInOrder(t *testing.T) {
	file := writeFile(t, "params.json", `{"b": 1, "a": {"x": true}, "c": "file"}`)
	kv, err := keyValues(file, []string{`{"c":"flag"}`, `{"d":[1]}`, `{"b":2}`})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(objectOf(kv)); got != `{"b":2,"a":{"x": true},"c":"flag","d":[1]}` {
		t.Fatalf("merged = %s", got)
	}
	var check map[string]any
	if err := json.Unmarshal(objectOf(kv), &check); err != nil {
		t.Fatalf("objectOf is not JSON: %v", err)
	}
}

func TestKeyValuesErrors(t *testing.T) {
	cases := []struct{ file, want string }{
		{`[1, 2]`, "expected a JSON object of KEY: VALUE"},
		{`{"a": }`, "not JSON"},
		{`{"a": 1} {"b": 2}`, "trailing data after the JSON object"},
	}
	for _, tc := range cases {
		_, err := keyValues(writeFile(t, "p.json", tc.file), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.file, err, tc.want)
		}
	}
	if _, err := keyValues("/nonexistent/params.json", nil); err == nil {
		t.Error("a missing file is an error")
	}
}
