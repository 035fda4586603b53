package api

import (
	"encoding/json"
	"net/url"
	"testing"
)

// FuzzDecodeActionPut feeds PUT bodies to the decoder: it must never panic,
// and what it accepts must encode back to JSON.
func FuzzDecodeActionPut(f *testing.F) {
	f.Add([]byte(`{"exec":{"kind":"nodejs:default","code":"function main(a){return a}"},"parameters":[{"key":"p","value":1}]}`))
	f.Add([]byte(`{"exec":{"kind":"sequence","components":["/_/a"]},"delAnnotations":["x"],"limits":{"memory":128}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		put, err := decodeActionPut(body)
		if err != nil {
			return
		}
		if _, err := json.Marshal(put); err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", body, err)
		}
	})
}

// FuzzActivationListQuery checks that any query either is refused or yields
// a valid page.
func FuzzActivationListQuery(f *testing.F) {
	f.Add("name=pkg/hello&since=1&upto=2&limit=0&skip=3&docs=true")
	f.Add("count=yes&limit=201")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		aq, count, docs, err := activationListQuery(q)
		if err != nil {
			return
		}
		if aq.Page.Limit < 1 || aq.Page.Limit > maxListLimit || aq.Page.Skip < 0 || count && docs {
			t.Fatalf("query %q accepted as %+v count=%v docs=%v", raw, aq, count, docs)
		}
	})
}
