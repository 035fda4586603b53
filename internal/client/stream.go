package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gustfaas/gust/internal/whisk"
)

// ErrStreamUnsupported means the server has no activation stream (OpenWhisk
// itself has none): poll ListActivations instead.
var ErrStreamUnsupported = errors.New("the server has no activation stream")

// StreamOptions select the activations of a stream.
type StreamOptions struct {
	Name  string // "action" or "pkg/action"
	Since int64  // epoch ms: replay stored records started since then first
	// LastEventID is the id of the last record seen: the server replays what
	// followed it (as an EventSource reconnecting).
	LastEventID string
	// KeepAlive asks for a comment line every so many seconds (1..300); 0
	// leaves it to the server.
	KeepAlive int
}

// ActivationStream reads the Server-Sent Events of
// GET /api/v1/namespaces/_/activations/stream.
type ActivationStream struct {
	body io.ReadCloser
	r    *bufio.Reader
}

// StreamActivations opens a stream of the activation records of the key's
// namespace. The stream lives until ctx ends, Close is called, or the server
// ends it (Next then returns io.EOF). A server without the endpoint yields an
// error wrapping ErrStreamUnsupported.
func (c *Client) StreamActivations(ctx context.Context, opts StreamOptions) (*ActivationStream, error) {
	q := url.Values{}
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	if opts.Since > 0 {
		q.Set("since", strconv.FormatInt(opts.Since, 10))
	}
	if opts.KeepAlive > 0 {
		q.Set("keepalive", strconv.Itoa(opts.KeepAlive))
	}
	target := strings.TrimRight(c.base.String(), "/") + NamespacePath(activationsNS, "activations", "stream")
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("client: GET %s: %w", target, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Set("User-Agent", c.userAgent)
	if opts.LastEventID != "" {
		req.Header.Set("Last-Event-ID", opts.LastEventID)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	c.trace("> GET %s (stream)\n", req.URL.String())
	hr, err := c.hc.Do(req)
	if err != nil {
		c.trace("< error: %v\n", err)
		return nil, err
	}
	c.trace("< %s (x-request-id %s)\n", hr.Status, hr.Header.Get("X-Request-Id"))
	mt, _, _ := mime.ParseMediaType(hr.Header.Get("Content-Type"))
	if hr.StatusCode == http.StatusOK && mt == "text/event-stream" {
		return &ActivationStream{body: hr.Body, r: bufio.NewReaderSize(hr.Body, 64<<10)}, nil
	}
	defer hr.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(hr.Body, 1<<20))
	resp := &Response{StatusCode: hr.StatusCode, Header: hr.Header, Body: data}
	switch hr.StatusCode {
	case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		// OpenWhisk reads "stream" as a malformed activation id (400);
		// others have no such route (404, 405).
		return nil, fmt.Errorf("%w: %w", ErrStreamUnsupported, parseError(resp))
	}
	return nil, parseError(resp)
}

// Next returns the next activation record and its JSON as sent. It returns
// io.EOF when the server ended the stream, and the context's error once the
// stream's context is done.
func (s *ActivationStream) Next() (*whisk.Activation, []byte, error) {
	var event string
	var data bytes.Buffer
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || len(line) > 0 && err == io.EOF {
				err = io.EOF
			}
			return nil, nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 { // dispatch
			if (event == "" || event == "activation") && data.Len() > 0 {
				var act whisk.Activation
				if err := json.Unmarshal(data.Bytes(), &act); err != nil {
					return nil, nil, fmt.Errorf("client: activation event is not a record: %w", err)
				}
				return &act, bytes.Clone(data.Bytes()), nil
			}
			event = ""
			data.Reset()
			continue
		}
		if line[0] == ':' { // comment: keepalive
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			event = string(value)
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.Write(value)
		}
	}
}

// Close ends the stream.
func (s *ActivationStream) Close() error { return s.body.Close() }
