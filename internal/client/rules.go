package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gustfaas/gust/internal/whisk"
)

// ListRules lists the rules of a namespace ("" or "/ns"), newest first.
// Items have no status: GetRule tells it.
func (c *Client) ListRules(ctx context.Context, in string, opts ListOptions) ([]whisk.Rule, error) {
	path, err := c.collectionPath(in, "rules")
	if err != nil {
		return nil, err
	}
	var out []whisk.Rule
	if err := c.get(ctx, path, opts.query(), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CountRules counts the rules of a namespace.
func (c *Client) CountRules(ctx context.Context, in string) (int, error) {
	return c.count(ctx, in, "rules")
}

// GetRule fetches a rule with its status.
func (c *Client) GetRule(ctx context.Context, name string) (*whisk.Rule, error) {
	n, err := c.ParseTriggerName(name)
	if err != nil {
		return nil, err
	}
	var r whisk.Rule
	if err := c.get(ctx, n.path("rules"), nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RuleSpec is what a rule links and says about itself. Trigger and action
// are names as the CLI takes them ("t", "/ns/t", "pkg/a", "/ns/pkg/a");
// empty ones are not sent (an update keeps them).
type RuleSpec struct {
	Trigger, Action string
	Annotations     whisk.KeyValues
	Publish         *bool
}

// PutRule creates a rule, active, or with overwrite updates it (its status
// is kept). Names are sent fully qualified, "/_/t" for the client's own
// namespace, as wsk sends them.
func (c *Client) PutRule(ctx context.Context, name string, spec RuleSpec, overwrite bool) (*whisk.Rule, error) {
	n, err := c.ParseTriggerName(name)
	if err != nil {
		return nil, err
	}
	put := &whisk.RulePut{Annotations: spec.Annotations, Publish: spec.Publish}
	if spec.Trigger != "" {
		t, err := c.ParseTriggerName(spec.Trigger)
		if err != nil {
			return nil, err
		}
		put.Trigger = quote(t.String())
	}
	if spec.Action != "" {
		a, err := c.ParseName(spec.Action)
		if err != nil {
			return nil, err
		}
		put.Action = quote(a.String())
	}
	resp, err := c.Do(ctx, http.MethodPut, n.path("rules"), url.Values{"overwrite": {strconv.FormatBool(overwrite)}}, put)
	if err != nil {
		return nil, err
	}
	var r whisk.Rule
	if err := decode(resp, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func quote(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}

// DeleteRule deletes a rule (unlinking it from its trigger) and returns it.
func (c *Client) DeleteRule(ctx context.Context, name string) (*whisk.Rule, error) {
	n, err := c.ParseTriggerName(name)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, http.MethodDelete, n.path("rules"), nil, nil)
	if err != nil {
		return nil, err
	}
	var r whisk.Rule
	if err := decode(resp, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SetRuleStatus enables (whisk.RuleActive) or disables (whisk.RuleInactive) a rule.
func (c *Client) SetRuleStatus(ctx context.Context, name, status string) error {
	n, err := c.ParseTriggerName(name)
	if err != nil {
		return err
	}
	_, err = c.Do(ctx, http.MethodPost, n.path("rules"), nil, map[string]string{"status": status})
	return err
}
