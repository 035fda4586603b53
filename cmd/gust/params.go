package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gustfaas/gust/internal/whisk"
)

// wsk's -p and -a take two words, KEY VALUE, which no flag library parses.
// Like wsk, gust rewrites them before parsing: "-p name Ada" becomes
// "--param={"name":"Ada"}", a one-pair JSON object that the --param flag
// reads back in command-line order. Commands without --param then reject it
// as an unknown flag, as they should.
var keyValueFlags = map[string]string{
	"-p": "--param", "--param": "--param",
	"-a": "--annotation", "--annotation": "--annotation",
}

// expandKeyValueFlags rewrites every "-p KEY VALUE" and "-a KEY VALUE" before
// a "--" terminator.
func expandKeyValueFlags(args []string) ([]string, error) {
	if len(args) > 0 && strings.HasPrefix(args[0], "__complete") {
		// Shell completion sends the line being typed, -p with half its words.
		return args, nil
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return append(out, args[i:]...), nil
		}
		long, ok := keyValueFlags[arg]
		if !ok {
			out = append(out, arg)
			continue
		}
		if i+2 >= len(args) {
			return nil, &exitError{code: exitUsage, err: fmt.Errorf("%s takes two arguments, a KEY and a VALUE", arg),
				hint: fmt.Sprintf("e.g. %s name Ada, or %s count 3 (a VALUE that is valid JSON is taken as JSON)", arg, arg)}
		}
		pair := objectOf(whisk.KeyValues{{Key: args[i+1], Value: jsonValue(args[i+2])}})
		out = append(out, long+"="+string(pair))
		i += 2
	}
	return out, nil
}

// jsonValue takes a command-line value as JSON when it is valid JSON and as a
// string otherwise, as wsk does: 3 is a number, true a boolean, '{"a":1}' an
// object, Ada a string. Quote a value to force a string: '"3"'.
func jsonValue(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		var buf bytes.Buffer
		if json.Compact(&buf, []byte(s)) == nil {
			return buf.Bytes()
		}
	}
	return marshalText(s)
}

// marshalText encodes a string as JSON without escaping <, > and &, which
// are the user's text, not HTML.
func marshalText(s string) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// keyValues merges a JSON file of key/values (read first) and the --param or
// --annotation objects (in command-line order; later keys win).
func keyValues(file string, pairs []string) (whisk.KeyValues, error) {
	var kv whisk.KeyValues
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		fromFile, err := orderedObject(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		kv = kv.Merge(fromFile)
	}
	for _, p := range pairs {
		obj, err := orderedObject([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", p, err)
		}
		kv = kv.Merge(obj)
	}
	return kv, nil
}

// orderedObject reads a JSON object as key/values in the order written, so
// parameters keep the order the user gave them.
func orderedObject(data []byte) (whisk.KeyValues, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("expected a JSON object of KEY: VALUE")
	}
	var kv whisk.KeyValues
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		kv = kv.Merge(whisk.KeyValues{{Key: key, Value: v}})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return kv, nil
}

// objectOf renders key/values as one JSON object, in order: an invocation's
// body.
func objectOf(kv whisk.KeyValues) json.RawMessage {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, e := range kv {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(marshalText(e.Key))
		buf.WriteByte(':')
		buf.Write(e.Value)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}
