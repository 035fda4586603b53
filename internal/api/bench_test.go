package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// Micro-benchmarks of the API's share of a warm invoke. The whole path over
// HTTP is BenchmarkInvokeBlocking and `gust bench`.

// BenchmarkDecodeInvoke decodes an invoke request as invokeAction does:
// credentials, the query and a small JSON body.
func BenchmarkDecodeInvoke(b *testing.B) {
	s := &Server{}
	body := []byte(`{"name":"Ada","n":1,"tags":["a","b"],"nested":{"x":1.5,"y":null}}`)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces/_/actions/hello?blocking=true&result=true", nil)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(
		"23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP")))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	rd := bytes.NewReader(body)
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		req.ContentLength = int64(len(body))
		if _, _, ok := req.BasicAuth(); !ok {
			b.Fatal("no credentials")
		}
		q := req.URL.Query()
		if blocking, err := boolParam(q, "blocking", false); err != nil || !blocking {
			b.Fatal(err)
		}
		if result, err := boolParam(q, "result", false); err != nil || !result {
			b.Fatal(err)
		}
		if _, err := timeoutParam(q, time.Minute); err != nil {
			b.Fatal(err)
		}
		got, err := s.readBody(w, req, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		if err := checkObject(got); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeActivation encodes the record a blocking invoke answers
// with (without result=true), with its usual annotations.
func BenchmarkEncodeActivation(b *testing.B) {
	act := &whisk.Activation{
		Namespace: "guest", Name: "hello", Version: "0.0.1", Subject: "guest",
		ActivationID: whisk.NewActivationID(), Start: 1717000000000, End: 1717000000003, Duration: 3,
		Response: whisk.NewResponse(whisk.StatusSuccess, json.RawMessage(`{"greeting":"Hello, Ada!","n":1}`)),
		Logs:     []string{"2024-05-29T16:26:40.123456789Z stdout: hello"},
	}
	act.Annotations = act.Annotations.Set("path", "guest/hello").Set("kind", "nodejs:20").
		Set("limits", whisk.Limits{Timeout: 60000, Memory: 256, Logs: 10, Concurrency: 1}).
		Set("timeout", false).Set("waitTime", 1)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = encodeActivation(buf[:0], act)
	}
	if !json.Valid(buf) {
		b.Fatalf("not JSON: %s", buf)
	}
	b.SetBytes(int64(len(buf)))
}
