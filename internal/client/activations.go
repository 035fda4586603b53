package client

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/gustfaas/gust/internal/whisk"
)

// Activations are always addressed in "_": a record is readable only in the
// namespace of the key that caused it, and wsk does the same.
const activationsNS = DefaultNamespace

// ActivationListOptions select activations. Zero values are not sent, except
// Skip and Limit, which always are (Limit 0 = the server's maximum page).
type ActivationListOptions struct {
	Name  string // "action" or "pkg/action"
	Since int64  // epoch ms, inclusive
	Upto  int64  // epoch ms, inclusive
	Skip  int
	Limit int
	Docs  bool // full records instead of summaries
}

func (o ActivationListOptions) query() url.Values {
	q := url.Values{"skip": {strconv.Itoa(o.Skip)}, "limit": {strconv.Itoa(o.Limit)}}
	if o.Name != "" {
		q.Set("name", o.Name)
	}
	if o.Since > 0 {
		q.Set("since", strconv.FormatInt(o.Since, 10))
	}
	if o.Upto > 0 {
		q.Set("upto", strconv.FormatInt(o.Upto, 10))
	}
	if o.Docs {
		q.Set("docs", "true")
	}
	return q
}

// ListActivations lists activations, newest first. Without Docs the items are
// summaries: no logs, and the status is in the top-level StatusCode.
func (c *Client) ListActivations(ctx context.Context, opts ActivationListOptions) ([]whisk.Activation, error) {
	var out []whisk.Activation
	if err := c.get(ctx, NamespacePath(activationsNS, "activations"), opts.query(), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CountActivations counts the activations selected by opts (Skip, Limit and
// Docs are ignored).
func (c *Client) CountActivations(ctx context.Context, opts ActivationListOptions) (int, error) {
	q := opts.query()
	q.Del("skip")
	q.Del("limit")
	q.Del("docs")
	q.Set("count", "true")
	var out map[string]int
	if err := c.get(ctx, NamespacePath(activationsNS, "activations"), q, &out); err != nil {
		return 0, err
	}
	return out["activations"], nil
}

// GetActivation fetches a full activation record.
func (c *Client) GetActivation(ctx context.Context, id string) (*whisk.Activation, error) {
	var a whisk.Activation
	if err := c.get(ctx, NamespacePath(activationsNS, "activations", id), nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// ActivationResult is the answer of GET …/activations/{id}/result.
type ActivationResult struct {
	Result  json.RawMessage `json:"result"`
	Success bool            `json:"success"`
	Status  string          `json:"status"`
	Size    int             `json:"size,omitempty"`
}

// GetActivationResult fetches an activation's result and status.
func (c *Client) GetActivationResult(ctx context.Context, id string) (*ActivationResult, error) {
	var r ActivationResult
	if err := c.get(ctx, NamespacePath(activationsNS, "activations", id, "result"), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// GetActivationLogs fetches an activation's log lines.
func (c *Client) GetActivationLogs(ctx context.Context, id string) ([]string, error) {
	var r struct {
		Logs []string `json:"logs"`
	}
	if err := c.get(ctx, NamespacePath(activationsNS, "activations", id, "logs"), nil, &r); err != nil {
		return nil, err
	}
	return r.Logs, nil
}
