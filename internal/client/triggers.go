package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gustfaas/gust/internal/whisk"
)

// Feed lifecycle events (spec §8) and the parameters that carry them.
const (
	FeedCreate  = "CREATE"
	FeedRead    = "READ"
	FeedUpdate  = "UPDATE"
	FeedDelete  = "DELETE"
	FeedPause   = "PAUSE"
	FeedUnpause = "UNPAUSE"
)

// AuthKey is the key the client authenticates with ("uuid:secret"), which
// a feed action is given so that its provider can act for the trigger's owner.
func (c *Client) AuthKey() string {
	if c.user == "" {
		return ""
	}
	return c.user + ":" + c.pass
}

// ParseTriggerName reads a trigger or rule name: "name" (in the client's
// namespace) or "/ns/name". Triggers and rules do not live in packages.
func (c *Client) ParseTriggerName(s string) (Name, error) {
	n, err := c.ParseName(s)
	if err != nil {
		return Name{}, err
	}
	if n.Package != "" {
		return Name{}, fmt.Errorf("%w %q: use NAME or /NAMESPACE/NAME", ErrInvalidName, s)
	}
	return n, nil
}

// collectionPath is the path of a namespace's collection: in is "" (the
// client's namespace) or "/ns".
func (c *Client) collectionPath(in, collection string) (string, error) {
	ns, pkg, err := c.parseCollection(in)
	if err != nil {
		return "", err
	}
	if pkg != "" || in != "" && !strings.HasPrefix(in, "/") {
		return "", fmt.Errorf("%w %q: use /NAMESPACE", ErrInvalidName, in)
	}
	return NamespacePath(ns, collection), nil
}

func (c *Client) count(ctx context.Context, in, collection string) (int, error) {
	path, err := c.collectionPath(in, collection)
	if err != nil {
		return 0, err
	}
	var out map[string]int
	if err := c.get(ctx, path, url.Values{"count": {"true"}}, &out); err != nil {
		return 0, err
	}
	return out[collection], nil
}

// ListTriggers lists the triggers of a namespace ("" or "/ns"), newest
// first. Items are summaries: no parameters, no rules.
func (c *Client) ListTriggers(ctx context.Context, in string, opts ListOptions) ([]whisk.Trigger, error) {
	path, err := c.collectionPath(in, "triggers")
	if err != nil {
		return nil, err
	}
	var out []whisk.Trigger
	if err := c.get(ctx, path, opts.query(), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CountTriggers counts the triggers of a namespace.
func (c *Client) CountTriggers(ctx context.Context, in string) (int, error) {
	return c.count(ctx, in, "triggers")
}

// GetTrigger fetches a trigger with the rules linked to it.
func (c *Client) GetTrigger(ctx context.Context, name string) (*whisk.Trigger, error) {
	n, err := c.ParseTriggerName(name)
	if err != nil {
		return nil, err
	}
	var t whisk.Trigger
	if err := c.get(ctx, n.path("triggers"), nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// PutTrigger creates a trigger or, with overwrite, replaces the fields the
// body gives (parameters and annotations whole).
func (c *Client) PutTrigger(ctx context.Context, name string, body *whisk.TriggerPut, overwrite bool) (*whisk.Trigger, error) {
	n, err := c.ParseTriggerName(name)
	if err != nil {
		return nil, err
	}
	if body == nil {
		body = &whisk.TriggerPut{}
	}
	resp, err := c.Do(ctx, http.MethodPut, n.path("triggers"), url.Values{"overwrite": {strconv.FormatBool(overwrite)}}, body)
	if err != nil {
		return nil, err
	}
	var t whisk.Trigger
	if err := decode(resp, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteTrigger deletes a trigger and returns it. It does not tell the
// trigger's feed: see DeleteTriggerAndFeed.
func (c *Client) DeleteTrigger(ctx context.Context, name string) (*whisk.Trigger, error) {
	n, err := c.ParseTriggerName(name)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, http.MethodDelete, n.path("triggers"), nil, nil)
	if err != nil {
		return nil, err
	}
	var t whisk.Trigger
	if err := decode(resp, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// FireTrigger fires a trigger with params (nil sends no body) and returns
// the trigger activation's id, or "" when the trigger has no active rule
// (the server answers 204 and records nothing).
func (c *Client) FireTrigger(ctx context.Context, name string, params any) (string, error) {
	n, err := c.ParseTriggerName(name)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(ctx, http.MethodPost, n.path("triggers"), nil, params)
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusNoContent || len(bytes.TrimSpace(resp.Body)) == 0 {
		return "", nil
	}
	var out struct {
		ActivationID string `json:"activationId"`
	}
	if err := decode(resp, &out); err != nil {
		return "", err
	}
	return out.ActivationID, nil
}

// FeedAnnotation is the name of the feed a trigger was created with, or "".
func FeedAnnotation(t *whisk.Trigger) string {
	feed, _ := t.Annotations.GetString(whisk.AnnoFeed)
	return feed
}

// InvokeFeed sends a lifecycle event for trigger to its feed action, as wsk
// does: a blocking invocation (result=false) of feed with params and
// lifecycleEvent, triggerName ("/namespace/name" as the client names it)
// and the client's authKey. A feed that refused the event returns an
// *Error whose Activation holds the feed's answer.
func (c *Client) InvokeFeed(ctx context.Context, feed, event, trigger string, params whisk.KeyValues) (*Invocation, error) {
	n, err := c.ParseTriggerName(trigger)
	if err != nil {
		return nil, err
	}
	args := map[string]json.RawMessage{}
	for _, p := range params {
		args[p.Key] = p.Value
	}
	for k, v := range map[string]string{"lifecycleEvent": event, "triggerName": n.String(), "authKey": c.AuthKey()} {
		b, _ := json.Marshal(v)
		args[k] = b
	}
	return c.Invoke(ctx, feed, args, InvokeOptions{Blocking: true})
}

// FeedName is the fully qualified name of a feed action as wsk stores it in
// a trigger's feed annotation: "/whisk.system/alarms/alarm".
func (c *Client) FeedName(feed string) (string, error) {
	n, err := c.ParseName(feed)
	if err != nil {
		return "", err
	}
	return n.String(), nil
}
