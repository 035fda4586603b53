package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// ListOptions pages through a collection. Both values are always sent, as wsk
// does: Limit 0 asks the server for its maximum page (200).
type ListOptions struct {
	Skip  int
	Limit int
}

func (o ListOptions) query() url.Values {
	return url.Values{"skip": {strconv.Itoa(o.Skip)}, "limit": {strconv.Itoa(o.Limit)}}
}

// ListActions lists the actions of a namespace or package, newest first. in is
// "" (the client's namespace), "pkg", "/ns" or "/ns/pkg". Items are summaries:
// their exec carries no code.
func (c *Client) ListActions(ctx context.Context, in string, opts ListOptions) ([]whisk.Action, error) {
	path, err := c.actionsPath(in)
	if err != nil {
		return nil, err
	}
	var out []whisk.Action
	if err := c.get(ctx, path, opts.query(), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CountActions counts the actions of a namespace or package (see ListActions).
func (c *Client) CountActions(ctx context.Context, in string) (int, error) {
	path, err := c.actionsPath(in)
	if err != nil {
		return 0, err
	}
	var out map[string]int
	if err := c.get(ctx, path, url.Values{"count": {"true"}}, &out); err != nil {
		return 0, err
	}
	return out["actions"], nil
}

// actionsPath lists a package with a trailing slash, as the API requires to
// tell a package listing from a GET of an action.
func (c *Client) actionsPath(in string) (string, error) {
	ns, pkg, err := c.parseCollection(in)
	if err != nil {
		return "", err
	}
	if pkg == "" {
		return NamespacePath(ns, "actions"), nil
	}
	return NamespacePath(ns, "actions", pkg) + "/", nil
}

// GetAction fetches an action; with code false its exec comes without code.
func (c *Client) GetAction(ctx context.Context, name string, code bool) (*whisk.Action, error) {
	n, err := c.ParseName(name)
	if err != nil {
		return nil, err
	}
	var a whisk.Action
	if err := c.get(ctx, n.path("actions"), url.Values{"code": {strconv.FormatBool(code)}}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// PutAction creates an action or, with overwrite, updates it (the server
// merges the body into the stored action). It returns the stored action.
func (c *Client) PutAction(ctx context.Context, name string, body *whisk.ActionPut, overwrite bool) (*whisk.Action, error) {
	n, err := c.ParseName(name)
	if err != nil {
		return nil, err
	}
	if body == nil {
		body = &whisk.ActionPut{}
	}
	resp, err := c.Do(ctx, http.MethodPut, n.path("actions"), url.Values{"overwrite": {strconv.FormatBool(overwrite)}}, body)
	if err != nil {
		return nil, err
	}
	var a whisk.Action
	if err := decode(resp, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// DeleteAction deletes an action and returns what was deleted.
func (c *Client) DeleteAction(ctx context.Context, name string) (*whisk.Action, error) {
	n, err := c.ParseName(name)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, http.MethodDelete, n.path("actions"), nil, nil)
	if err != nil {
		return nil, err
	}
	var a whisk.Action
	if len(bytes.TrimSpace(resp.Body)) > 0 {
		if err := decode(resp, &a); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

// InvokeOptions choose how an invocation is answered.
type InvokeOptions struct {
	// Blocking waits for the activation (up to Timeout, at most 60 s on the
	// server); otherwise the server answers 202 once the work is accepted.
	Blocking bool
	// Result asks for the result alone instead of the activation record.
	Result bool
	// Timeout bounds a blocking wait; 0 leaves the server's default (60 s).
	Timeout time.Duration
}

// Invocation is the answer to an invocation.
type Invocation struct {
	// StatusCode is the HTTP status: 200 completed, 202 accepted (for a
	// blocking call: not finished in time), 502/500 completed unsuccessfully.
	StatusCode int
	// ActivationID is always set.
	ActivationID string
	// Activation is the record of a completed blocking invocation made
	// without Result.
	Activation *whisk.Activation
	// Result is the result of a completed blocking invocation made with
	// Result, or an array result (which the server sends bare).
	Result json.RawMessage
}

// Completed reports whether the activation finished (as opposed to a 202).
func (i *Invocation) Completed() bool { return i.StatusCode != http.StatusAccepted }

// Invoke invokes an action with params (nil sends no body, which the server
// reads as {}).
//
// When the action ran and did not succeed (HTTP 502, or 500 for a whisk
// internal error), Invoke returns both the Invocation and an *Error whose
// Activation or Result is set, so callers that treat a failed activation as
// data can read it and callers that don't see an error. A refused request
// (404, 429, ...) returns only the *Error.
func (c *Client) Invoke(ctx context.Context, name string, params any, opts InvokeOptions) (*Invocation, error) {
	n, err := c.ParseName(name)
	if err != nil {
		return nil, err
	}
	q := url.Values{
		"blocking": {strconv.FormatBool(opts.Blocking)},
		"result":   {strconv.FormatBool(opts.Result)},
	}
	if opts.Timeout > 0 {
		q.Set("timeout", strconv.FormatInt(opts.Timeout.Milliseconds(), 10))
	}
	resp, err := c.send(ctx, http.MethodPost, n.path("actions"), q, params, true)
	if err != nil {
		return nil, err
	}
	inv := &Invocation{StatusCode: resp.StatusCode, ActivationID: resp.Header.Get("X-Openwhisk-Activation-Id")}
	switch {
	case resp.StatusCode == http.StatusAccepted:
		var acc struct {
			ActivationID string `json:"activationId"`
		}
		if err := decode(resp, &acc); err != nil {
			return nil, err
		}
		if acc.ActivationID != "" {
			inv.ActivationID = acc.ActivationID
		}
		return inv, nil
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		if err := inv.fill(resp.Body, opts.Result); err != nil {
			return nil, err
		}
		return inv, nil
	}
	perr := parseError(resp)
	if perr.Code != "" || resp.StatusCode < 500 {
		return nil, perr
	}
	// A 5xx without a transaction id is the action's own failure (spec §14.1).
	if err := inv.fill(resp.Body, opts.Result); err != nil {
		return nil, perr
	}
	perr.Activation, perr.Result = inv.Activation, inv.Result
	perr.Message = failureMessage(inv)
	return inv, perr
}

// fill reads a completed invocation's body: an activation record unless the
// result was asked for or the body is not a record (array results are sent
// bare whatever was asked).
func (i *Invocation) fill(body []byte, result bool) error {
	t := bytes.TrimSpace(body)
	if len(t) == 0 {
		return fmt.Errorf("client: empty answer to an invocation (HTTP %d)", i.StatusCode)
	}
	if !result && t[0] == '{' {
		var probe struct {
			ActivationID string `json:"activationId"`
		}
		if json.Unmarshal(t, &probe) == nil && probe.ActivationID != "" {
			var a whisk.Activation
			if err := json.Unmarshal(t, &a); err != nil {
				return fmt.Errorf("client: activation record: %w", err)
			}
			i.Activation, i.ActivationID = &a, a.ActivationID
			return nil
		}
	}
	if !json.Valid(t) {
		return fmt.Errorf("client: invocation answer is not JSON (HTTP %d)", i.StatusCode)
	}
	i.Result = json.RawMessage(t)
	return nil
}

func failureMessage(inv *Invocation) string {
	status, result := "", inv.Result
	if inv.Activation != nil {
		status, result = inv.Activation.Response.Status, inv.Activation.Response.Result
	}
	if status == "" {
		status = "failed"
	}
	var r struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(result, &r) == nil && present(r.Error) {
		return fmt.Sprintf("the action failed (%s): %s", status, jsonText(r.Error))
	}
	return fmt.Sprintf("the action failed (%s)", status)
}
