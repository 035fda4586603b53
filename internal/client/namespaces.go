package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// ListNamespaces lists the namespaces the key may use (its own, for Gust).
func (c *Client) ListNamespaces(ctx context.Context) ([]string, error) {
	var out []string
	if err := c.get(ctx, apiPath+"/namespaces", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Limits are a namespace's effective limits. A nil field was not reported.
// Throttles (per minute, concurrent) are 0 when unlimited.
type Limits struct {
	InvocationsPerMinute  *int64    `json:"invocationsPerMinute,omitempty"`
	ConcurrentInvocations *int64    `json:"concurrentInvocations,omitempty"`
	FiresPerMinute        *int64    `json:"firesPerMinute,omitempty"`
	MinActionMemory       *int64    `json:"minActionMemory,omitempty"`  // MB
	MaxActionMemory       *int64    `json:"maxActionMemory,omitempty"`  // MB
	MinActionLogs         *int64    `json:"minActionLogs,omitempty"`    // MB
	MaxActionLogs         *int64    `json:"maxActionLogs,omitempty"`    // MB
	MinActionTimeout      *int64    `json:"minActionTimeout,omitempty"` // ms
	MaxActionTimeout      *int64    `json:"maxActionTimeout,omitempty"` // ms
	MinActionConcurrency  *int64    `json:"minActionConcurrency,omitempty"`
	MaxActionConcurrency  *int64    `json:"maxActionConcurrency,omitempty"`
	MaxParameterSize      *ByteSize `json:"maxParameterSize,omitempty"`
	MaxPayloadSize        *ByteSize `json:"maxPayloadSize,omitempty"`
	MaxActionInstances    *int64    `json:"maxActionInstances,omitempty"`
	AllowedKinds          []string  `json:"allowedKinds,omitempty"`
	StoreActivations      *bool     `json:"storeActivations,omitempty"`
}

// ByteSize is a size in bytes. OpenWhisk writes sizes as text in its ByteSize
// notation ("1048576 B", "1 MB"); plain numbers are read too.
type ByteSize int64

var byteUnits = map[string]int64{"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "G": 1 << 30, "GB": 1 << 30}

// UnmarshalJSON reads a number of bytes or a ByteSize string.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	var n int64
	if json.Unmarshal(data, &n) == nil {
		*b = ByteSize(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("a size is a number or a string such as \"1 MB\": %w", err)
	}
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	unit, ok := byteUnits[strings.ToUpper(strings.TrimSpace(s[i:]))]
	if err != nil || !ok {
		return fmt.Errorf("%q is not a size such as \"1 MB\"", s)
	}
	*b = ByteSize(n * unit)
	return nil
}

// MarshalJSON writes OpenWhisk's notation, "N B".
func (b ByteSize) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatInt(int64(b), 10) + " B")
}

// String is the size in the largest unit that divides it: "1 MB", "1500 B".
func (b ByteSize) String() string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}} {
		if b != 0 && int64(b)%u.size == 0 {
			return strconv.FormatInt(int64(b)/u.size, 10) + " " + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + " B"
}

// GetLimits fetches the effective limits of namespace ("" = the client's).
func (c *Client) GetLimits(ctx context.Context, namespace string) (*Limits, error) {
	if namespace == "" {
		namespace = c.namespace
	}
	var l Limits
	if err := c.get(ctx, NamespacePath(namespace, "limits"), nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Info is the answer of GET /api/v1, which needs no key.
type Info struct {
	Description    string            `json:"description"`
	APIVersion     string            `json:"api_version"`
	APIVersionPath string            `json:"api_version_path"`
	Build          string            `json:"build"`
	BuildNo        string            `json:"buildno"`
	SwaggerPaths   map[string]string `json:"swagger_paths,omitempty"`
}

// Info fetches the API's version and build.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var out Info
	if err := c.unauthenticatedGet(ctx, apiPath, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Runtime is one kind of the runtime manifest.
type Runtime struct {
	Kind        string `json:"kind"`
	Image       string `json:"image,omitempty"`
	Deprecated  bool   `json:"deprecated"`
	Default     bool   `json:"default"`
	Attached    bool   `json:"attached,omitempty"`
	RequireMain bool   `json:"requireMain,omitempty"`
}

// Manifest is the answer of GET /, which needs no key: the system's limits
// and the runtimes it offers, by family.
type Manifest struct {
	Description string                 `json:"description,omitempty"`
	Support     map[string]string      `json:"support,omitempty"`
	APIPaths    []string               `json:"api_paths,omitempty"`
	Limits      map[string]json.Number `json:"limits,omitempty"`
	Runtimes    map[string][]Runtime   `json:"runtimes,omitempty"`
}

// Manifest fetches the system's limits and runtimes.
func (c *Client) Manifest(ctx context.Context) (*Manifest, error) {
	var out Manifest
	if err := c.unauthenticatedGet(ctx, "/", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// unauthenticatedGet keeps the key off endpoints that do not need it.
func (c *Client) unauthenticatedGet(ctx context.Context, path string, out any) error {
	resp, err := c.send(ctx, http.MethodGet, path, nil, nil, false)
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return parseError(resp)
	}
	return decode(resp, out)
}
