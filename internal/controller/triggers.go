package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// Triggers (spec §7.1): CRUD with OpenWhisk's replace-on-update rules, and
// Fire, which records the trigger activation and invokes the action of
// every active rule non-blocking, as the caller.

// Messages of the triggers API, verbatim from OpenWhisk.
const (
	MsgFeedNotValid = "Feed name is not valid"
	// msgInternalDefault is akka-http's text for a 500 without a message,
	// which OpenWhisk puts in a rule result when an invocation failed that way.
	msgInternalDefault = "There was an internal server error."
)

// MsgRuleInactive is the error of an inactive rule in a trigger activation's logs.
func MsgRuleInactive(rule, action string) string {
	return fmt.Sprintf("Rule '%s' is inactive, action '%s' was not activated.", rule, action)
}

// TriggerSummary is an item of a trigger list.
type TriggerSummary struct {
	Namespace   string          `json:"namespace"`
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Publish     bool            `json:"publish"`
	Annotations whisk.KeyValues `json:"annotations"`
	Updated     int64           `json:"updated"`
}

// PutTrigger creates the trigger ns/name, or with overwrite replaces the
// fields the body gives (parameters and annotations whole, not merged),
// bumping the version and keeping the rules linked to it.
func (c *Controller) PutTrigger(ctx context.Context, id whisk.Identity, ns, name string, put *whisk.TriggerPut, overwrite bool) (*whisk.Trigger, error) {
	if err := entitled(id, ns, resourceName(ns, name)); err != nil {
		return nil, err
	}
	if err := c.checkTriggerPut(put); err != nil {
		return nil, err
	}
	var stored *whisk.Trigger
	_, err := c.putEntity(ctx, store.Triggers, ns, ns, name, overwrite,
		func(old *store.Doc, updated int64) ([]byte, bool, error) {
			t := &whisk.Trigger{Namespace: ns, Name: name, Version: whisk.DefaultVersion}
			if old != nil {
				prev, err := decodeTrigger(*old)
				if err != nil {
					return nil, false, err
				}
				t = prev
				t.Version = whisk.BumpVersion(prev.Version)
				if put.Parameters != nil {
					t.Parameters = normalizeKeyValues(put.Parameters)
				}
				if put.Annotations != nil {
					t.Annotations = normalizeKeyValues(put.Annotations)
				}
			} else {
				t.Parameters = normalizeKeyValues(put.Parameters)
				t.Annotations = normalizeKeyValues(put.Annotations)
				// As OpenWhisk: only a new trigger's feed is checked; an update
				// replaces annotations as given.
				if err := checkFeedAnnotation(t.Annotations); err != nil {
					return nil, false, err
				}
			}
			if put.Version != nil {
				t.Version = *put.Version
			}
			if put.Publish != nil {
				t.Publish = *put.Publish
			}
			t.Updated = updated
			body, err := json.Marshal(t)
			stored = t
			return body, t.Publish, internal(err)
		}, nil)
	if err != nil {
		return nil, err
	}
	return withEmptyArrays(stored), nil
}

func (c *Controller) checkTriggerPut(put *whisk.TriggerPut) error {
	if n := keyValuesSize(put.Parameters); n > c.cfg.MaxParameterBytes {
		return TooLarge("parameters", n, c.cfg.MaxParameterBytes)
	}
	if n := keyValuesSize(put.Annotations); n > c.cfg.MaxAnnotationBytes {
		return TooLarge("annotations", n, c.cfg.MaxAnnotationBytes)
	}
	if put.Version != nil {
		v, ok := normalizeVersion(*put.Version)
		if !ok {
			return Malformed("bad semantic version " + *put.Version)
		}
		put.Version = &v
	}
	for _, kv := range []whisk.KeyValues{put.Parameters, put.Annotations} {
		for _, e := range kv {
			if e.Key == "" {
				return Malformed("parameter name may not be empty")
			}
		}
	}
	return nil
}

// checkFeedAnnotation applies OpenWhisk's check of a feed name: a string
// that is an entity path ("/whisk.system/alarms/alarm", "alarms/alarm").
// Whether the feed exists is the client's business (it invokes it next).
func checkFeedAnnotation(annotations whisk.KeyValues) error {
	raw := annotations.Get(whisk.AnnoFeed)
	if raw == nil {
		return nil
	}
	var feed string
	if json.Unmarshal(raw, &feed) != nil || !validEntityPath(feed) {
		return whisk.BadRequest(MsgFeedNotValid)
	}
	return nil
}

// validEntityPath is OpenWhisk's EntityPath.validate: "/"-separated
// segments, empty ones ignored, at least one, each a valid name.
func validEntityPath(s string) bool {
	n := 0
	for _, seg := range strings.Split(s, "/") {
		if seg == "" {
			continue
		}
		if !whisk.ValidName(seg) {
			return false
		}
		n++
	}
	return n > 0
}

func decodeTrigger(doc store.Doc) (*whisk.Trigger, error) {
	t := new(whisk.Trigger)
	if err := json.Unmarshal(doc.Body, t); err != nil {
		return nil, &whisk.Error{Code: whisk.CodeInternal, Message: "Resource is corrupted and cannot be read.",
			Err: fmt.Errorf("decode trigger %s/%s: %w", doc.Path, doc.Name, err)}
	}
	return t, nil
}

// withEmptyArrays makes parameters and annotations [] rather than null on
// the wire, as OpenWhisk always sends them.
func withEmptyArrays(t *whisk.Trigger) *whisk.Trigger {
	if t.Parameters == nil {
		t.Parameters = whisk.KeyValues{}
	}
	if t.Annotations == nil {
		t.Annotations = whisk.KeyValues{}
	}
	return t
}

// GetTrigger returns the trigger ns/name with its rules.
func (c *Controller) GetTrigger(ctx context.Context, id whisk.Identity, ns, name string) (*whisk.Trigger, error) {
	if err := entitled(id, ns, resourceName(ns, name)); err != nil {
		return nil, err
	}
	doc, err := c.getDoc(ctx, store.Triggers, ns, name)
	if err != nil {
		return nil, err
	}
	t, err := decodeTrigger(doc)
	if err != nil {
		return nil, err
	}
	return withEmptyArrays(t), nil
}

// OnTriggerDeleted registers fn to run after a trigger is deleted through
// this controller: a feed provider stops what fires the trigger. fn runs
// before DeleteTrigger returns, so that a client that deleted a trigger is
// never fired at again by this server.
func (c *Controller) OnTriggerDeleted(fn func(ctx context.Context, namespace, name string)) {
	c.ext.mu.Lock()
	defer c.ext.mu.Unlock()
	c.ext.triggerDeleted = append(c.ext.triggerDeleted, fn)
}

// DeleteTrigger deletes the trigger ns/name and returns it. Rules that
// referred to it stay, inactive, as in OpenWhisk.
func (c *Controller) DeleteTrigger(ctx context.Context, id whisk.Identity, ns, name string) (*whisk.Trigger, error) {
	if err := entitled(id, ns, resourceName(ns, name)); err != nil {
		return nil, err
	}
	doc, err := c.deleteEntity(ctx, store.Triggers, ns, name)
	if err != nil {
		return nil, err
	}
	c.ext.mu.RLock()
	hooks := append([]func(context.Context, string, string){}, c.ext.triggerDeleted...)
	c.ext.mu.RUnlock()
	for _, fn := range hooks {
		fn(context.WithoutCancel(ctx), ns, name)
	}
	t, err := decodeTrigger(doc)
	if err != nil {
		return nil, err
	}
	return withEmptyArrays(t), nil
}

// ListTriggers lists the triggers of namespace ns, newest first.
func (c *Controller) ListTriggers(ctx context.Context, id whisk.Identity, ns string, page Page) ([]TriggerSummary, error) {
	if err := entitled(id, ns, ns); err != nil {
		return nil, err
	}
	docs, err := c.listDocs(ctx, store.Triggers, ns, "", page)
	if err != nil {
		return nil, err
	}
	out := make([]TriggerSummary, 0, len(docs))
	for _, d := range docs {
		var s TriggerSummary
		if err := json.Unmarshal(d.Body, &s); err != nil {
			c.log.Error("unreadable trigger skipped in list", "namespace", d.Path, "name", d.Name, "err", err)
			continue
		}
		if s.Annotations == nil {
			s.Annotations = whisk.KeyValues{}
		}
		out = append(out, s)
	}
	return out, nil
}

// CountTriggers counts what ListTriggers would list from skip on.
func (c *Controller) CountTriggers(ctx context.Context, id whisk.Identity, ns string, skip int) (int, error) {
	if err := entitled(id, ns, ns); err != nil {
		return 0, err
	}
	return c.countDocs(ctx, store.Triggers, ns, "", skip)
}

// FireRequest is one fire of a trigger.
type FireRequest struct {
	// Payload is the request body: a JSON object, or empty for none. The
	// caller has checked that it is an object.
	Payload json.RawMessage
	// Headers, when not nil, reach the rules' actions as __ow_headers (names
	// lower-cased), as OpenWhisk forwards a fire request's headers since
	// 2022. A feed firing on its own has none.
	Headers       map[string]string
	TransactionID string
	// APIKey is the caller's key, passed on to actions that may see it.
	APIKey string
}

// paramOwHeaders carries a fire request's headers to the rules' actions.
const paramOwHeaders = "__ow_headers"

// ruleResult is one line of a trigger activation's logs (spec §7.1).
type ruleResult struct {
	StatusCode   whisk.StatusCode `json:"statusCode"`
	Success      bool             `json:"success"`
	ActivationID string           `json:"activationId,omitempty"`
	Error        string           `json:"error,omitempty"`
	Rule         string           `json:"rule"`
	Action       string           `json:"action"`
}

// FireTrigger fires the trigger ns/name (spec §7.1). With no active rule it
// returns "" and records nothing (the API answers 204). Otherwise it invokes
// the action of every active rule non-blocking, as id, with the trigger's
// parameters overlaid by the payload; records the trigger activation, whose
// logs hold one result per rule (inactive ones included); and returns its
// id. Fires count against the namespace's fires per minute, and each rule's
// invocation against its invocations, as in OpenWhisk.
func (c *Controller) FireTrigger(ctx context.Context, id whisk.Identity, ns, name string, req FireRequest) (string, error) {
	if err := entitled(id, ns, resourceName(ns, name)); err != nil {
		return "", err
	}
	_, _, fires := c.individualLimits(id)
	if _, _, err := c.ext.fires.admit(id.Namespace, c.now(), fires, 0, false); err != nil {
		c.met.throttledBy.WithLabelValues(id.Namespace, "fires").Inc()
		return "", err
	}
	start := c.now()
	doc, err := c.getDoc(ctx, store.Triggers, ns, name)
	if err != nil {
		return "", err
	}
	t, err := decodeTrigger(doc)
	if err != nil {
		return "", err
	}
	active := false
	for _, r := range t.Rules {
		if r.Status == whisk.RuleActive {
			active = true
			break
		}
	}
	if !active {
		return "", nil
	}
	payload := bytes.TrimSpace(req.Payload)
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	args, err := fireArgs(t.Parameters, payload, req.Headers)
	if err != nil {
		return "", err
	}

	names := make([]string, 0, len(t.Rules))
	for rn := range t.Rules {
		names = append(names, rn)
	}
	sort.Strings(names)
	results := make([]ruleResult, len(names))
	// Each accept is a durable write; the rules' are independent, so they
	// are made at once. The fire is answered when all are taken, so that its
	// record is complete when its id is returned.
	var wg sync.WaitGroup
	invokeCtx := context.WithoutCancel(ctx)
	for i, rn := range names {
		rule := t.Rules[rn]
		action := rule.Action.FQN()
		results[i] = ruleResult{Rule: rn, Action: action.PathName()}
		if rule.Status != whisk.RuleActive {
			results[i].StatusCode = whisk.StatusApplicationError
			results[i].Error = MsgRuleInactive(rn, action.PathName())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Invoke(invokeCtx, id, InvokeRequest{
				Action: action, Args: args, TransactionID: req.TransactionID, APIKey: req.APIKey,
			})
			if err != nil {
				results[i].StatusCode, results[i].Error = ruleFailure(err)
				return
			}
			results[i].Success, results[i].ActivationID = true, res.ActivationID
		}()
	}
	wg.Wait()

	logs := make([]string, len(results))
	for i, r := range results {
		line, _ := json.Marshal(r)
		logs[i] = string(line)
	}
	act := &whisk.Activation{
		Namespace: id.Namespace, Name: name, Version: t.Version, Subject: id.Subject,
		ActivationID: whisk.NewActivationID(), Start: start.UnixMilli(),
		Logs: logs, Annotations: whisk.KeyValues{},
	}
	// OpenWhisk records the payload without a size: it was not produced by
	// a function whose result size is metered.
	act.Response = whisk.NewResponse(whisk.StatusSuccess, payload)
	act.Response.Size = 0
	c.record(act)
	return act.ActivationID, nil
}

// fireArgs is what the rules' actions receive: the trigger's parameters
// overlaid by the payload, and the request's headers.
func fireArgs(params whisk.KeyValues, payload json.RawMessage, headers map[string]string) (json.RawMessage, error) {
	args := params.Object(false)
	var body map[string]json.RawMessage
	if err := json.Unmarshal(payload, &body); err != nil {
		return nil, Malformed(err.Error())
	}
	for k, v := range body {
		args[k] = v
	}
	if headers != nil {
		h, err := json.Marshal(headers)
		if err != nil {
			return nil, internal(err)
		}
		args[paramOwHeaders] = h
	}
	out, err := json.Marshal(args)
	return out, internal(err)
}

// ruleFailure classifies a refused invocation as OpenWhisk does from the
// HTTP status of its internal POST: server errors are whisk errors, the rest
// (404, 403, 429, ...) application errors.
func ruleFailure(err error) (whisk.StatusCode, string) {
	var werr *whisk.Error
	msg := ""
	if errors.As(err, &werr) {
		msg = werr.Message
	}
	switch whisk.CodeOf(err) {
	case whisk.CodeInternal, whisk.CodeUnavailable, whisk.CodeBadGateway:
		if msg == "" {
			msg = msgInternalDefault
		}
		return whisk.StatusInternalError, msg
	}
	if msg == "" {
		msg = whisk.MsgNotFound
	}
	return whisk.StatusApplicationError, msg
}

// NamespaceIdentity is the identity owning namespace ns, as a feed fires a
// trigger: it keeps the namespace, never a key, and finds the owner (and
// its current limits) at fire time.
func (c *Controller) NamespaceIdentity(ctx context.Context, ns string) (whisk.Identity, error) {
	n, err := c.store.GetNamespace(ctx, ns)
	if errors.Is(err, whisk.ErrNotFound) {
		return whisk.Identity{}, whisk.NotFound()
	}
	if err != nil {
		return whisk.Identity{}, internal(err)
	}
	return identityOf(n), nil
}
