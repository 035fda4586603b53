// Package client is a Go client for the OpenWhisk REST API v1 as Gust serves
// it. The gust CLI and the end-to-end tests speak through it.
//
// It keeps the wire habits of OpenWhisk's own Go client (spec §14.1), so that
// what works through it also works through wsk: Basic authentication with the
// "uuid:secret" key, every path segment escaped on its own, "_" for the
// caller's own namespace, list queries that always carry limit and skip, and
// the {"error","code"} body turned into a typed *Error.
//
// A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// DefaultNamespace stands for the namespace of the API key's owner.
const DefaultNamespace = "_"

// Config configures a Client. Only APIHost is required.
type Config struct {
	// APIHost is where the API is served: "host[:port]" or a URL
	// "scheme://host[:port][/prefix]". An explicit scheme is honoured. Without
	// one, loopback hosts (localhost, 127.0.0.0/8, ::1) get http:// and every
	// other host https://. wsk always assumes https; Gust serves plain http on a
	// laptop, so the loopback exception is what makes "localhost:3233" work.
	APIHost string
	// AuthKey is the API key "uuid:secret". Empty sends no credentials, which
	// is enough for Info and Manifest.
	AuthKey string
	// Namespace is used in paths when a name does not start with "/namespace/".
	// Empty means DefaultNamespace.
	Namespace string
	// Insecure skips TLS certificate verification. It applies only when
	// HTTPClient is nil.
	Insecure bool
	// UserAgent is sent with every request; empty means
	// "Gust-Go-Client <GOOS> <GOARCH>".
	UserAgent string
	// HTTPClient sends the requests; nil means a client with connection and
	// TLS handshake timeouts but no overall timeout, since a blocking
	// invocation may legitimately take a minute. Bound calls with the context.
	HTTPClient *http.Client
	// Debug, when set, receives a trace of every request and response, with
	// the API key redacted.
	Debug io.Writer
}

// Client calls one API host with one key.
type Client struct {
	base      *url.URL
	user      string
	pass      string
	namespace string
	userAgent string
	hc        *http.Client
	debug     io.Writer
}

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	base, err := BaseURL(cfg.APIHost)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:      base,
		namespace: cfg.Namespace,
		userAgent: cfg.UserAgent,
		hc:        cfg.HTTPClient,
		debug:     cfg.Debug,
	}
	if c.namespace == "" {
		c.namespace = DefaultNamespace
	}
	if c.userAgent == "" {
		c.userAgent = "Gust-Go-Client " + runtime.GOOS + " " + runtime.GOARCH
	}
	if key := strings.TrimSpace(cfg.AuthKey); key != "" {
		user, pass, ok := strings.Cut(key, ":")
		if !ok || user == "" || pass == "" {
			return nil, errors.New("client: an API key has the form UUID:SECRET")
		}
		c.user, c.pass = user, pass
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient(cfg.Insecure)
	}
	return c, nil
}

func defaultHTTPClient(insecure bool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	if insecure {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the user asked for it (-i)
	}
	return &http.Client{Transport: t}
}

// BaseURL turns an API host setting into the URL that "/api/v1/..." paths are
// appended to. See Config.APIHost for the scheme rule. A trailing "/api" or
// "/api/v1" is dropped, so that a pasted API root works too.
func BaseURL(apiHost string) (*url.URL, error) {
	h := strings.TrimSpace(apiHost)
	if h == "" {
		return nil, errors.New("client: no API host")
	}
	explicit := strings.Contains(h, "://")
	raw := h
	if !explicit {
		raw = "//" + h
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("client: API host %q is not host[:port] or a URL", apiHost)
	}
	if !explicit {
		u.Scheme = "https"
		if isLoopback(u.Hostname()) {
			u.Scheme = "http"
		}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: API host %q: scheme must be http or https", apiHost)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/api/v1")
	p = strings.TrimSuffix(p, "/api")
	u.Path, u.RawPath = p, ""
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// Namespace is the namespace used for names that do not carry one.
func (c *Client) Namespace() string { return c.namespace }

// BaseURL returns a copy of the URL requests are sent under.
func (c *Client) BaseURL() *url.URL {
	u := *c.base
	return &u
}

// Response is a response whose body has been read.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Error is a non-2xx answer. Platform errors carry OpenWhisk's message and
// transaction id; a blocking invocation whose action failed carries the
// activation record or, with result=true, the result.
type Error struct {
	StatusCode int
	// Message is the body's "error" or, for a body that is not an OpenWhisk
	// error, a description of what came back.
	Message string
	// Code is the body's "code", the transaction id (older servers: a number).
	Code string
	// Body is the raw response body.
	Body []byte
	// Activation is the record of a blocking invocation whose action failed.
	Activation *whisk.Activation
	// Result is the result of a failed blocking invocation made with result=true.
	Result json.RawMessage
}

func (e *Error) Error() string {
	if e.Code != "" {
		return e.Message + " (code " + e.Code + ")"
	}
	return e.Message
}

// ActionFailed reports whether the error is a failed activation (the action
// ran, or was meant to, and did not succeed) rather than a refused request.
func (e *Error) ActionFailed() bool { return e.Activation != nil || e.Result != nil }

// StatusCodeOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusCodeOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// ErrInvalidName is wrapped by errors for names the client cannot place in a
// path (too many segments, empty segments).
var ErrInvalidName = errors.New("invalid entity name")

type bodyKey struct{}

// CaptureBody returns a context that makes every call made with it store the
// raw body of its response in *dst. The CLI uses it to print exactly what the
// server sent (-o json) while working with typed values.
func CaptureBody(ctx context.Context, dst *[]byte) context.Context {
	return context.WithValue(ctx, bodyKey{}, dst)
}

// Do sends one request. path is relative to the API host and already escaped
// ("/api/v1/namespaces/_/packages"); in, when not nil, is sent as JSON
// ([]byte and json.RawMessage as they are). A non-2xx answer returns the
// response and an *Error.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in any) (*Response, error) {
	resp, err := c.send(ctx, method, path, query, in, true)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, parseError(resp)
	}
	return resp, nil
}

func (c *Client) send(ctx context.Context, method, path string, query url.Values, in any, auth bool) (*Response, error) {
	var body io.Reader
	var payload []byte
	if in != nil {
		switch v := in.(type) {
		case []byte:
			payload = v
		case json.RawMessage:
			payload = v
		default:
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			// Code and parameters are sent as written; "<" stays "<".
			enc.SetEscapeHTML(false)
			if err := enc.Encode(in); err != nil {
				return nil, fmt.Errorf("client: encode request: %w", err)
			}
			payload = bytes.TrimRight(buf.Bytes(), "\n")
		}
		body = bytes.NewReader(payload)
	}
	target := strings.TrimRight(c.base.String(), "/") + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, target, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if auth && c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	c.trace("> %s %s\n", method, req.URL.String())
	if len(payload) > 0 {
		c.trace("> %s\n", clip(payload))
	}
	start := time.Now()
	hr, err := c.hc.Do(req)
	if err != nil {
		c.trace("< error after %s: %v\n", time.Since(start).Round(time.Millisecond), err)
		return nil, err
	}
	defer hr.Body.Close()
	data, err := io.ReadAll(hr.Body)
	if err != nil {
		return nil, fmt.Errorf("client: read response of %s %s: %w", method, req.URL.Path, err)
	}
	c.trace("< %s in %s (x-request-id %s)\n", hr.Status, time.Since(start).Round(time.Millisecond), hr.Header.Get("X-Request-Id"))
	if len(data) > 0 {
		c.trace("< %s\n", clip(data))
	}
	if dst, ok := ctx.Value(bodyKey{}).(*[]byte); ok && dst != nil {
		*dst = data
	}
	return &Response{StatusCode: hr.StatusCode, Header: hr.Header, Body: data}, nil
}

func (c *Client) trace(format string, args ...any) {
	if c.debug == nil {
		return
	}
	s := fmt.Sprintf(format, args...)
	if c.pass != "" {
		s = strings.ReplaceAll(s, c.pass, "<redacted>")
	}
	io.WriteString(c.debug, s)
}

// clip keeps debug traces readable when code is uploaded.
func clip(b []byte) string {
	const max = 2048
	if len(b) <= max {
		return string(b)
	}
	return fmt.Sprintf("%s… (%d more bytes)", b[:max], len(b)-max)
}

// parseError reads OpenWhisk's error body: {"error": "...", "code": "..."}.
// Like wsk, it requires a non-null code; anything else is described as an
// unexpected answer, so that a proxy's HTML error page is not mistaken for a
// platform message.
func parseError(resp *Response) *Error {
	e := &Error{StatusCode: resp.StatusCode, Body: resp.Body}
	var eb struct {
		Error json.RawMessage `json:"error"`
		Code  json.RawMessage `json:"code"`
	}
	if json.Unmarshal(resp.Body, &eb) == nil && present(eb.Error) && present(eb.Code) {
		e.Message = jsonText(eb.Error)
		e.Code = jsonText(eb.Code)
		return e
	}
	e.Message = unexpected(resp)
	return e
}

func unexpected(resp *Response) string {
	msg := fmt.Sprintf("the server answered HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	snippet := strings.TrimSpace(string(resp.Body))
	if snippet == "" {
		return msg + " with an empty body"
	}
	if len(snippet) > 200 {
		snippet = snippet[:200] + "…"
	}
	return msg + ": " + snippet
}

func present(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}

// jsonText renders a JSON string as its text and any other value as JSON.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}

// decode reads a 2xx body into out.
func decode(resp *Response, out any) error {
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return fmt.Errorf("client: unexpected answer (HTTP %d): %w", resp.StatusCode, err)
	}
	return nil
}

func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	resp, err := c.Do(ctx, http.MethodGet, path, query, nil)
	if err != nil {
		return err
	}
	return decode(resp, out)
}
