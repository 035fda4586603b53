package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// Rules (spec §7.2). A rule's status is not stored with the rule but in the
// rules map of its trigger, which is what a fire reads: linking, enabling,
// disabling and unlinking are edits of the trigger document.

// Messages of the rules API, verbatim from OpenWhisk.
const (
	MsgRuleNeedsRefs      = "rule requires a valid trigger and a valid action"
	MsgRuleTriggerMissing = "Only rules with existing triggers can be activated"
	msgFQNTooShort        = "The fully qualified name of the entity must contain at least the namespace and the name of the entity."
	msgFQNMalformed       = "fully qualified name malformed"
)

// triggerEditMaxAttempts bounds the retries of a rules map edit that keeps
// meeting concurrent writers of the same trigger.
const triggerEditMaxAttempts = 8

// MsgRuleTriggerNotFound and MsgRuleActionNotFound reject a rule whose
// trigger or action does not exist.
func MsgRuleTriggerNotFound(fqn whisk.FQN) string {
	return fmt.Sprintf("trigger %s does not exist", fqn)
}

func MsgRuleActionNotFound(fqn whisk.FQN) string {
	return fmt.Sprintf("action %s does not exist", fqn)
}

// ruleKey is how a trigger's rules map names a rule: "ns/name".
func ruleKey(ns, name string) string { return ns + "/" + name }

// ParseRuleStatus reads the body of POST …/rules/{name}: {"status":
// "active"|"inactive"}, with OpenWhisk's rejection texts.
func ParseRuleStatus(body []byte) (string, error) {
	var v struct {
		Status *json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &v); err != nil {
		return "", Malformed(err.Error())
	}
	if v.Status == nil {
		return "", Malformed("key not found: status")
	}
	var s string
	if err := json.Unmarshal(*v.Status, &s); err != nil {
		return "", Malformed("status must be a string")
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if s != whisk.RuleActive && s != whisk.RuleInactive {
		return "", Malformed("requirement failed: " + s + " is not a recognized rule state")
	}
	return s, nil
}

// parseRuleRef reads a rule's trigger or action: a name with at least a
// namespace ("/ns/t", "ns/pkg/a"; "_" is the rule's namespace) or the stored
// {path, name} form.
func parseRuleRef(raw json.RawMessage, self string) (whisk.FQN, error) {
	raw = bytes.TrimSpace(raw)
	var f whisk.FQN
	switch {
	case len(raw) > 0 && raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return whisk.FQN{}, Malformed(msgFQNMalformed)
		}
		var parts []string
		for _, p := range strings.Split(s, "/") {
			if p != "" {
				parts = append(parts, p)
			}
		}
		switch len(parts) {
		case 2:
			f = whisk.FQN{Namespace: parts[0], Name: parts[1]}
		case 3:
			f = whisk.FQN{Namespace: parts[0], Package: parts[1], Name: parts[2]}
		case 0, 1:
			return whisk.FQN{}, Malformed("requirement failed: " + msgFQNTooShort)
		default:
			return whisk.FQN{}, Malformed(msgFQNMalformed)
		}
	case len(raw) > 0 && raw[0] == '{':
		var ref whisk.EntityRef
		if err := json.Unmarshal(raw, &ref); err != nil || ref.Path == "" || ref.Name == "" {
			return whisk.FQN{}, Malformed(msgFQNMalformed)
		}
		ns, pkg := whisk.SplitPath(ref.Path)
		if strings.Contains(pkg, "/") {
			return whisk.FQN{}, Malformed(msgFQNMalformed)
		}
		f = whisk.FQN{Namespace: ns, Package: pkg, Name: ref.Name}
	default:
		return whisk.FQN{}, Malformed(msgFQNMalformed)
	}
	if f.Namespace != whisk.SelfNamespace && !whisk.ValidName(f.Namespace) || !whisk.ValidName(f.Name) ||
		f.Package != "" && !whisk.ValidName(f.Package) {
		return whisk.FQN{}, whisk.BadRequest(whisk.MsgIllegalName)
	}
	return f.ResolveNamespace(self), nil
}

// checkRuleRefs is OpenWhisk's READ entitlement on what a rule refers to:
// triggers only in the caller's namespace, actions also in other
// namespaces' published packages.
func (c *Controller) checkRuleRefs(ctx context.Context, id whisk.Identity, trigger, action *whisk.FQN) error {
	if trigger != nil && trigger.Namespace != id.Namespace {
		return whisk.Forbidden(trigger.PathName())
	}
	if action != nil && action.Namespace != id.Namespace {
		if action.Package == "" {
			return whisk.Forbidden(action.PathName())
		}
		if _, err := c.resolvePackage(ctx, id, action.Namespace, action.Package); whisk.CodeOf(err) == whisk.CodeForbidden {
			return err
		}
	}
	return nil
}

// checkRuleTargets rejects a rule whose trigger or action does not exist.
func (c *Controller) checkRuleTargets(ctx context.Context, id whisk.Identity, trigger, action whisk.FQN) error {
	doc, err := c.store.GetEntity(ctx, trigger.Namespace, trigger.Name)
	switch {
	case errors.Is(err, whisk.ErrNotFound) || err == nil && doc.Collection != store.Triggers:
		return whisk.BadRequest("%s", MsgRuleTriggerNotFound(trigger))
	case err != nil:
		return internal(err)
	}
	_, err = c.resolveAction(ctx, id, action)
	switch whisk.CodeOf(err) {
	case whisk.CodeNotFound, whisk.CodeConflict:
		return whisk.BadRequest("%s", MsgRuleActionNotFound(action))
	}
	return err
}

// PutRule creates the rule ns/name, linking it, active, to its trigger; or
// with overwrite updates it: it keeps its status and moves its link when the
// trigger changes. The returned rule carries its status.
func (c *Controller) PutRule(ctx context.Context, id whisk.Identity, ns, name string, put *whisk.RulePut, overwrite bool) (*whisk.Rule, error) {
	if err := entitled(id, ns, resourceName(ns, name)); err != nil {
		return nil, err
	}
	var newTrigger, newAction *whisk.FQN
	if len(put.Trigger) > 0 {
		f, err := parseRuleRef(put.Trigger, ns)
		if err != nil {
			return nil, err
		}
		newTrigger = &f
	}
	if len(put.Action) > 0 {
		f, err := parseRuleRef(put.Action, ns)
		if err != nil {
			return nil, err
		}
		newAction = &f
	}
	if n := keyValuesSize(put.Annotations); n > c.cfg.MaxAnnotationBytes {
		return nil, TooLarge("annotations", n, c.cfg.MaxAnnotationBytes)
	}
	if put.Version != nil {
		v, ok := normalizeVersion(*put.Version)
		if !ok {
			return nil, Malformed("bad semantic version " + *put.Version)
		}
		put.Version = &v
	}
	if err := c.checkRuleRefs(ctx, id, newTrigger, newAction); err != nil {
		return nil, err
	}

	key := ruleKey(ns, name)
	var stored *whisk.Rule
	var oldTrigger *whisk.FQN // the trigger the rule was linked to, on update
	status := whisk.RuleActive
	_, err := c.putEntity(ctx, store.Rules, ns, ns, name, overwrite,
		func(old *store.Doc, updated int64) ([]byte, bool, error) {
			r := &whisk.Rule{Namespace: ns, Name: name, Version: whisk.DefaultVersion}
			if old == nil {
				if newTrigger == nil || newAction == nil {
					return nil, false, whisk.BadRequest(MsgRuleNeedsRefs)
				}
				r.Trigger, r.Action = whisk.Ref(*newTrigger), whisk.Ref(*newAction)
				r.Annotations = normalizeKeyValues(put.Annotations)
			} else {
				prev := new(whisk.Rule)
				if err := json.Unmarshal(old.Body, prev); err != nil {
					return nil, false, internal(fmt.Errorf("decode rule %s/%s: %w", ns, name, err))
				}
				was := prev.Trigger.FQN()
				oldTrigger = &was
				status = c.ruleStatus(ctx, was, key)
				r = prev
				r.Version = whisk.BumpVersion(prev.Version)
				if newTrigger != nil {
					r.Trigger = whisk.Ref(*newTrigger)
				}
				if newAction != nil {
					r.Action = whisk.Ref(*newAction)
				}
				if put.Annotations != nil {
					r.Annotations = normalizeKeyValues(put.Annotations)
				}
			}
			if err := c.checkRuleTargets(ctx, id, r.Trigger.FQN(), r.Action.FQN()); err != nil {
				return nil, false, err
			}
			if put.Version != nil {
				r.Version = *put.Version
			}
			if put.Publish != nil {
				r.Publish = *put.Publish
			}
			r.Status = ""
			r.Updated = updated
			body, err := json.Marshal(r)
			stored = r
			return body, r.Publish, internal(err)
		}, nil)
	if err != nil {
		return nil, err
	}

	trigger := stored.Trigger.FQN()
	if oldTrigger != nil && *oldTrigger != trigger {
		err := c.editTriggerRules(ctx, *oldTrigger, func(rules map[string]whisk.ReducedRule) bool {
			_, linked := rules[key]
			delete(rules, key)
			return linked
		})
		if err != nil && whisk.CodeOf(err) != whisk.CodeNotFound {
			return nil, err
		}
	}
	link := whisk.ReducedRule{Action: stored.Action, Status: status}
	err = c.editTriggerRules(ctx, trigger, func(rules map[string]whisk.ReducedRule) bool {
		if rules[key] == link {
			return false
		}
		rules[key] = link
		return true
	})
	if err != nil {
		if oldTrigger == nil {
			// A rule that is linked to nothing would be listed but never
			// fire: the create is undone.
			if derr := c.store.DeleteEntity(context.WithoutCancel(ctx), ns, name, 0); derr != nil {
				c.log.Error("removing a rule whose trigger could not be linked failed", "rule", key, "err", derr)
			}
			c.Invalidate(ns, name)
		}
		if whisk.CodeOf(err) == whisk.CodeNotFound {
			return nil, whisk.BadRequest("%s", MsgRuleTriggerNotFound(trigger))
		}
		return nil, err
	}
	stored.Status = status
	return withRuleArrays(stored), nil
}

func withRuleArrays(r *whisk.Rule) *whisk.Rule {
	if r.Annotations == nil {
		r.Annotations = whisk.KeyValues{}
	}
	return r
}

// ruleStatus is a rule's status as its trigger records it; a rule its
// trigger does not know (or whose trigger is gone) is inactive.
func (c *Controller) ruleStatus(ctx context.Context, trigger whisk.FQN, key string) string {
	doc, err := c.store.GetEntity(ctx, trigger.Namespace, trigger.Name)
	if err != nil || doc.Collection != store.Triggers {
		return whisk.RuleInactive
	}
	t, err := decodeTrigger(doc)
	if err != nil {
		return whisk.RuleInactive
	}
	if r, ok := t.Rules[key]; ok && r.Status == whisk.RuleActive {
		return whisk.RuleActive
	}
	return whisk.RuleInactive
}

// editTriggerRules applies edit to the rules map of a trigger and stores
// the trigger if edit reports a change, retrying when another writer got
// there first. The trigger's version and update time are kept: linking a
// rule does not change the trigger, as in OpenWhisk.
func (c *Controller) editTriggerRules(ctx context.Context, trigger whisk.FQN, edit func(rules map[string]whisk.ReducedRule) bool) error {
	for attempt := 1; ; attempt++ {
		doc, err := c.getDoc(ctx, store.Triggers, trigger.Namespace, trigger.Name)
		if whisk.CodeOf(err) == whisk.CodeConflict {
			return whisk.NotFound() // the name is another kind of entity now: no such trigger
		}
		if err != nil {
			return err
		}
		t, err := decodeTrigger(doc)
		if err != nil {
			return err
		}
		if t.Rules == nil {
			t.Rules = map[string]whisk.ReducedRule{}
		}
		if !edit(t.Rules) {
			return nil
		}
		if doc.Body, err = json.Marshal(t); err != nil {
			return internal(err)
		}
		_, err = c.store.PutEntity(ctx, doc, doc.Rev)
		c.Invalidate(trigger.Namespace, trigger.Name)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, whisk.ErrNotFound):
			return whisk.NotFound()
		case errors.Is(err, whisk.ErrConflict) && attempt < triggerEditMaxAttempts:
			continue
		case errors.Is(err, whisk.ErrConflict):
			return concurrentUpdate()
		default:
			return internal(err)
		}
	}
}

func (c *Controller) getRule(ctx context.Context, id whisk.Identity, ns, name string) (*whisk.Rule, store.Doc, error) {
	if err := entitled(id, ns, resourceName(ns, name)); err != nil {
		return nil, store.Doc{}, err
	}
	doc, err := c.getDoc(ctx, store.Rules, ns, name)
	if err != nil {
		return nil, store.Doc{}, err
	}
	r := new(whisk.Rule)
	if err := json.Unmarshal(doc.Body, r); err != nil {
		return nil, store.Doc{}, &whisk.Error{Code: whisk.CodeInternal, Message: "Resource is corrupted and cannot be read.",
			Err: fmt.Errorf("decode rule %s/%s: %w", ns, name, err)}
	}
	return r, doc, nil
}

// GetRule returns the rule ns/name with its status.
func (c *Controller) GetRule(ctx context.Context, id whisk.Identity, ns, name string) (*whisk.Rule, error) {
	r, _, err := c.getRule(ctx, id, ns, name)
	if err != nil {
		return nil, err
	}
	r.Status = c.ruleStatus(ctx, r.Trigger.FQN(), ruleKey(ns, name))
	return withRuleArrays(r), nil
}

// SetRuleStatus enables or disables the rule ns/name (status is active or
// inactive); asking for the status it has is no error.
func (c *Controller) SetRuleStatus(ctx context.Context, id whisk.Identity, ns, name, status string) error {
	r, _, err := c.getRule(ctx, id, ns, name)
	if err != nil {
		return err
	}
	key := ruleKey(ns, name)
	trigger := r.Trigger.FQN()
	if c.ruleStatus(ctx, trigger, key) == status {
		return nil
	}
	link := whisk.ReducedRule{Action: r.Action, Status: status}
	err = c.editTriggerRules(ctx, trigger, func(rules map[string]whisk.ReducedRule) bool {
		if rules[key] == link {
			return false
		}
		rules[key] = link
		return true
	})
	if whisk.CodeOf(err) == whisk.CodeNotFound {
		return whisk.Errorf(whisk.CodeNotFound, "%s", MsgRuleTriggerMissing)
	}
	return err
}

// DeleteRule unlinks the rule ns/name from its trigger, deletes it, and
// returns it, inactive.
func (c *Controller) DeleteRule(ctx context.Context, id whisk.Identity, ns, name string) (*whisk.Rule, error) {
	r, _, err := c.getRule(ctx, id, ns, name)
	if err != nil {
		return nil, err
	}
	key := ruleKey(ns, name)
	err = c.editTriggerRules(ctx, r.Trigger.FQN(), func(rules map[string]whisk.ReducedRule) bool {
		_, linked := rules[key]
		delete(rules, key)
		return linked
	})
	// A rule whose trigger is gone has nothing to unlink; any other failure
	// keeps the rule, lest its trigger fire an action for a deleted rule.
	if err != nil && whisk.CodeOf(err) != whisk.CodeNotFound {
		return nil, err
	}
	if _, err := c.deleteEntity(ctx, store.Rules, ns, name); err != nil {
		return nil, err
	}
	r.Status = whisk.RuleInactive
	return withRuleArrays(r), nil
}

// ListRules lists the rules of namespace ns, newest first, without their
// status (clients get each rule to show it, as wsk does).
func (c *Controller) ListRules(ctx context.Context, id whisk.Identity, ns string, page Page) ([]*whisk.Rule, error) {
	if err := entitled(id, ns, ns); err != nil {
		return nil, err
	}
	docs, err := c.listDocs(ctx, store.Rules, ns, "", page)
	if err != nil {
		return nil, err
	}
	out := make([]*whisk.Rule, 0, len(docs))
	for _, d := range docs {
		r := new(whisk.Rule)
		if err := json.Unmarshal(d.Body, r); err != nil {
			c.log.Error("unreadable rule skipped in list", "namespace", d.Path, "name", d.Name, "err", err)
			continue
		}
		r.Status = ""
		out = append(out, withRuleArrays(r))
	}
	return out, nil
}

// CountRules counts what ListRules would list from skip on.
func (c *Controller) CountRules(ctx context.Context, id whisk.Identity, ns string, skip int) (int, error) {
	if err := entitled(id, ns, ns); err != nil {
		return 0, err
	}
	return c.countDocs(ctx, store.Rules, ns, "", skip)
}
