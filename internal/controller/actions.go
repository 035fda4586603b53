package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// Annotation names the controller writes or reads.
const (
	annoExec          = "exec"
	annoProvideAPIKey = "provide-api-key"
	annoFinal         = "final"
	annoBinding       = "binding"
	paramSeqActions   = "_actions"
)

// ActionSummary is an item of an action list (OpenWhisk's list view).
type ActionSummary struct {
	Namespace   string          `json:"namespace"`
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Publish     bool            `json:"publish"`
	Annotations whisk.KeyValues `json:"annotations"`
	Limits      whisk.Limits    `json:"limits"`
	Exec        ExecSummary     `json:"exec"`
	Updated     int64           `json:"updated"`
}

// ExecSummary is the part of exec a list shows.
type ExecSummary struct {
	Binary bool `json:"binary"`
}

// PutAction creates the action fqn, or updates it when overwrite is set,
// following OpenWhisk's merge rules (spec §3.2). It returns the stored action.
func (c *Controller) PutAction(ctx context.Context, id whisk.Identity, fqn whisk.FQN, put *whisk.ActionPut, overwrite bool) (*whisk.Action, error) {
	if err := entitled(id, fqn.Namespace, fqn.PathName()); err != nil {
		return nil, err
	}
	if err := c.checkWritablePackage(ctx, id, fqn); err != nil {
		return nil, err
	}
	exec, err := c.checkActionPut(id, put)
	if err != nil {
		return nil, err
	}
	var stored *whisk.Action
	_, err = c.putEntity(ctx, store.Actions, fqn.Namespace, fqn.Path(), fqn.Name, overwrite,
		func(old *store.Doc, updated int64) ([]byte, bool, error) {
			var a *whisk.Action
			var err error
			if old == nil {
				a, err = c.makeAction(ctx, id, fqn, put, exec)
			} else {
				prev := new(whisk.Action)
				if err := json.Unmarshal(old.Body, prev); err != nil {
					return nil, false, internal(fmt.Errorf("decode action %s: %w", fqn, err))
				}
				a, err = c.updateAction(ctx, id, fqn, prev, put, exec)
			}
			if err != nil {
				return nil, false, err
			}
			a.Updated = updated
			body, err := json.Marshal(a)
			stored = a
			return body, a.Publish, internal(err)
		}, func(doc store.Doc) *cachedEntity {
			return &cachedEntity{coll: store.Actions, rev: doc.Rev, publish: doc.Publish, size: len(doc.Body) + 256,
				action: stored, run: c.newRunnable(stored)}
		})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// makeAction builds a new action from a PUT body.
func (c *Controller) makeAction(ctx context.Context, id whisk.Identity, fqn whisk.FQN, put *whisk.ActionPut, exec *whisk.Exec) (*whisk.Action, error) {
	if exec == nil {
		return nil, whisk.BadRequest(MsgExecUndefined)
	}
	if err := c.checkRunnableKind(ctx, fqn, exec); err != nil {
		return nil, err
	}
	a := &whisk.Action{
		Namespace: fqn.Path(),
		Name:      fqn.Name,
		Version:   whisk.DefaultVersion,
		Exec:      *exec,
		Limits:    c.limits(whisk.Limits{Timeout: c.cfg.DefaultTimeoutMS, Memory: c.cfg.DefaultMemoryMB, Logs: c.cfg.DefaultLogsMB, Concurrency: c.cfg.DefaultConcurrency}, put.Limits),
	}
	if put.Version != nil {
		a.Version = *put.Version
	}
	if put.Publish != nil {
		a.Publish = *put.Publish
	}
	a.Parameters = normalizeKeyValues(put.Parameters)
	if exec.Kind == whisk.KindSequence {
		a.Parameters = sequenceParameters(exec.Components)
	}
	annotations := normalizeKeyValues(put.Annotations).Without(annoExec)
	if !annotations.Has(annoProvideAPIKey) {
		annotations = annotations.Set(annoProvideAPIKey, false)
	}
	a.Annotations = annotations.Set(annoExec, exec.Kind)
	return a, nil
}

// updateAction merges a PUT body into the stored action: omitted fields keep
// their values, annotations merge, the version's patch number goes up.
func (c *Controller) updateAction(ctx context.Context, id whisk.Identity, fqn whisk.FQN, old *whisk.Action, put *whisk.ActionPut, exec *whisk.Exec) (*whisk.Action, error) {
	if exec != nil {
		if err := c.checkRunnableKind(ctx, fqn, exec); err != nil {
			return nil, err
		}
	} else if err := c.kindUsable(old.Exec.Kind); err != nil {
		return nil, err
	}
	a := &whisk.Action{
		Namespace: old.Namespace,
		Name:      old.Name,
		Version:   whisk.BumpVersion(old.Version),
		Publish:   old.Publish,
		Exec:      old.Exec,
		Limits:    c.limits(old.Limits, put.Limits),
	}
	if exec != nil {
		a.Exec = *exec
	}
	if put.Version != nil {
		a.Version = *put.Version
	}
	if put.Publish != nil {
		a.Publish = *put.Publish
	}

	// Sequence parameters (_actions) are the sequence's own business: they
	// never leak into, nor are they replaced by, ordinary parameters.
	wasSequence := old.Exec.Kind == whisk.KindSequence
	switch {
	case exec != nil && exec.Kind == whisk.KindSequence:
		a.Parameters = sequenceParameters(exec.Components)
	case exec == nil && wasSequence:
		a.Parameters = old.Parameters
	case put.Parameters != nil:
		a.Parameters = normalizeKeyValues(put.Parameters)
	case wasSequence:
		a.Parameters = nil
	default:
		a.Parameters = old.Parameters
	}

	annotations := old.Annotations
	if put.DelAnnotations != nil {
		annotations = annotations.Without(put.DelAnnotations...)
	}
	annotations = annotations.Merge(normalizeKeyValues(put.Annotations))
	a.Annotations = annotations.Set(annoExec, a.Exec.Kind)
	return a, nil
}

func sequenceParameters(components []string) whisk.KeyValues {
	return whisk.KeyValues{}.Set(paramSeqActions, components)
}

// normalizeKeyValues gives every key/value a JSON value (a missing value is
// null) so that stored documents always decode.
func normalizeKeyValues(kv whisk.KeyValues) whisk.KeyValues {
	if kv == nil {
		return nil
	}
	out := make(whisk.KeyValues, len(kv))
	for i, e := range kv {
		if len(e.Value) == 0 {
			e.Value = json.RawMessage("null")
		}
		out[i] = e
	}
	return out
}

// limits fills the omitted fields of put from base.
func (c *Controller) limits(base whisk.Limits, put *whisk.LimitsPut) whisk.Limits {
	if put == nil {
		return base
	}
	if put.Timeout != nil {
		base.Timeout = *put.Timeout
	}
	if put.Memory != nil {
		base.Memory = *put.Memory
	}
	if put.Logs != nil {
		base.Logs = *put.Logs
	}
	if put.Concurrency != nil {
		base.Concurrency = *put.Concurrency
	}
	return base
}

// checkActionPut validates a PUT body the way OpenWhisk's decoder does, in its
// order: exec, then sizes (413), then limits and version. It returns the
// normalized exec, or nil when the body has none.
func (c *Controller) checkActionPut(id whisk.Identity, put *whisk.ActionPut) (*whisk.Exec, error) {
	var exec *whisk.Exec
	if put.Exec != nil {
		var err error
		if exec, err = c.normalizeExec(id, put.Exec); err != nil {
			return nil, err
		}
		if n := execSize(exec); n > c.cfg.MaxCodeBytes {
			return nil, TooLarge("exec", n, c.cfg.MaxCodeBytes)
		}
	}
	if n := keyValuesSize(put.Parameters); n > c.cfg.MaxParameterBytes {
		return nil, TooLarge("parameters", n, c.cfg.MaxParameterBytes)
	}
	if n := keyValuesSize(put.Annotations); n > c.cfg.MaxAnnotationBytes {
		return nil, TooLarge("annotations", n, c.cfg.MaxAnnotationBytes)
	}
	if err := c.checkLimits(put.Limits); err != nil {
		return nil, err
	}
	if put.Version != nil {
		v, ok := normalizeVersion(*put.Version)
		if !ok {
			return nil, Malformed("bad semantic version " + *put.Version)
		}
		put.Version = &v
	}
	for _, kv := range [][]whisk.KeyValue{put.Parameters, put.Annotations} {
		for _, e := range kv {
			if e.Key == "" {
				return nil, Malformed("parameter name may not be empty")
			}
		}
	}
	return exec, nil
}

// normalizeExec checks an exec and returns it as stored: kind trimmed, lower
// cased and resolved ("nodejs:default" → the family's default), binary
// computed from the code, fields of other kinds dropped.
func (c *Controller) normalizeExec(id whisk.Identity, in *whisk.Exec) (*whisk.Exec, error) {
	kind := strings.ToLower(strings.TrimSpace(in.Kind))
	if kind == "" {
		return nil, Malformed(MsgKindMissing)
	}
	switch kind {
	case whisk.KindSequence:
		if in.Components == nil {
			return nil, Malformed(MsgComponentsMissing)
		}
		components := make([]string, len(in.Components))
		for i, s := range in.Components {
			f, err := parseComponent(s, id.Namespace)
			if err != nil {
				return nil, err
			}
			components[i] = f.String()
		}
		return &whisk.Exec{Kind: kind, Components: components}, nil
	case KindBuiltin:
		// Only the platform installs built-in actions, in its own namespace.
		if id.Namespace != whisk.SystemNamespace {
			return nil, invalidRuntime(kind, c.kindNames)
		}
		return &whisk.Exec{Kind: kind}, nil
	case whisk.KindBlackbox:
		if strings.TrimSpace(in.Image) == "" {
			return nil, Malformed(MsgBlackboxImage)
		}
		out := &whisk.Exec{Kind: kind, Image: strings.TrimSpace(in.Image), Main: in.Main}
		if code := in.CodeString(); strings.TrimSpace(code) != "" {
			out.Code = &code
			out.Binary = whisk.IsBase64(code)
		}
		if v, ok := c.kinds.(ExecValidator); ok {
			if err := v.ValidateExec(out); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	rt, ok := c.kinds.Lookup(kind)
	if !ok {
		return nil, invalidRuntime(kind, c.kindNames)
	}
	if in.Code == nil {
		return nil, Malformed(fmt.Sprintf("'code' must be a string defined in 'exec' for '%s' actions", kind))
	}
	resolved := rt.Kind()
	if c.kindInfo[resolved].RequireMain && in.Main == "" {
		return nil, Malformed(fmt.Sprintf("'main' must be a string defined in 'exec' for '%s' actions", kind))
	}
	code := *in.Code
	return &whisk.Exec{Kind: resolved, Code: &code, Main: in.Main, Binary: whisk.IsBase64(code)}, nil
}

// parseComponent reads a sequence component: a fully qualified name, "_"
// standing for the creator's namespace.
func parseComponent(s, self string) (whisk.FQN, error) {
	if !strings.HasPrefix(s, "/") {
		s = "/" + s
	}
	f, err := whisk.ParseFQN(s, self)
	if err != nil {
		return whisk.FQN{}, Malformed("The fully qualified name of the entity must contain at least the namespace and the name of the entity.")
	}
	return f.ResolveNamespace(self), nil
}

// checkRunnableKind rejects what OpenWhisk rejects when it builds the action
// after looking the name up: deprecated runtimes and invalid sequences.
func (c *Controller) checkRunnableKind(ctx context.Context, fqn whisk.FQN, exec *whisk.Exec) error {
	if exec.Kind == whisk.KindSequence {
		return c.checkSequence(ctx, fqn, exec.Components)
	}
	return c.kindUsable(exec.Kind)
}

// kindUsable reports whether actions of kind may still be updated or invoked.
func (c *Controller) kindUsable(kind string) error {
	switch kind {
	case whisk.KindSequence, whisk.KindBlackbox, KindBuiltin:
		return nil
	}
	if _, ok := c.kinds.Lookup(kind); !ok || c.kindInfo[kind].Deprecated {
		// A kind the registry no longer knows is as unusable as a deprecated one.
		return runtimeDeprecated(kind)
	}
	return nil
}

// checkSequence applies OpenWhisk's create-time checks to a sequence: at least
// one component, every component exists, no cycle back to the sequence, and
// at most SequenceMaxLength atomic actions once nested sequences are inlined.
func (c *Controller) checkSequence(ctx context.Context, seq whisk.FQN, components []string) error {
	if len(components) == 0 {
		return whisk.BadRequest(MsgSequenceEmpty)
	}
	if len(components) > c.cfg.SequenceMaxLength {
		return whisk.BadRequest(MsgSequenceTooLong)
	}
	owner := whisk.Identity{Namespace: seq.Namespace}
	self := seq
	if seq.Package != "" {
		// The sequence may be addressed through its package; compare real locations.
		if p, err := c.resolvePackage(ctx, owner, seq.Namespace, seq.Package); err == nil {
			self = whisk.FQN{Namespace: p.ns, Package: p.name, Name: seq.Name}
		}
	}
	count, err := c.countAtomic(ctx, owner, self, components, 0)
	if err != nil {
		return err
	}
	if count > c.cfg.SequenceMaxLength {
		return whisk.BadRequest(MsgSequenceTooLong)
	}
	return nil
}

func (c *Controller) countAtomic(ctx context.Context, owner whisk.Identity, self whisk.FQN, components []string, depth int) (int, error) {
	if len(components) > c.cfg.SequenceMaxLength || depth > c.cfg.SequenceMaxLength {
		return 0, whisk.BadRequest(MsgSequenceTooLong)
	}
	total := 0
	for _, s := range components {
		f, err := parseComponent(s, owner.Namespace)
		if err != nil {
			return 0, err
		}
		r, err := c.resolveAction(ctx, owner, f)
		switch whisk.CodeOf(err) {
		case whisk.CodeNotFound, whisk.CodeConflict:
			return 0, whisk.BadRequest(MsgSequenceComponent)
		}
		if err != nil {
			return 0, err
		}
		if r.fqn == self {
			return 0, whisk.BadRequest(MsgSequenceCyclic)
		}
		if exec := r.entry.action.Exec; exec.Kind == whisk.KindSequence {
			n, err := c.countAtomic(ctx, owner, self, exec.Components, depth+1)
			if err != nil {
				return 0, err
			}
			total += n
		} else {
			total++
		}
		if total > c.cfg.SequenceMaxLength {
			return 0, whisk.BadRequest(MsgSequenceTooLong)
		}
	}
	return total, nil
}

// checkLimits applies the action limit ranges with the messages of
// OpenWhisk's limit decoders (which report the thresholds in bytes).
func (c *Controller) checkLimits(l *whisk.LimitsPut) error {
	if l == nil {
		return nil
	}
	fail := func(format string, args ...any) error {
		return Malformed("requirement failed: " + fmt.Sprintf(format, args...))
	}
	cfg := c.cfg
	if v := l.Timeout; v != nil {
		if *v < cfg.TimeoutMS.Min {
			return fail("duration %d milliseconds below allowed threshold of %d milliseconds", *v, cfg.TimeoutMS.Min)
		}
		if *v > cfg.TimeoutMS.Max {
			return fail("duration %d milliseconds exceeds allowed threshold of %d milliseconds", *v, cfg.TimeoutMS.Max)
		}
	}
	if v := l.Memory; v != nil {
		if *v < cfg.MemoryMB.Min {
			return fail("memory %d MB below allowed threshold of %d B", *v, cfg.MemoryMB.Min<<20)
		}
		if *v > cfg.MemoryMB.Max {
			return fail("memory %d MB exceeds allowed threshold of %d B", *v, cfg.MemoryMB.Max<<20)
		}
	}
	if v := l.Logs; v != nil {
		if *v < cfg.LogsMB.Min {
			return fail("log size %d MB below allowed threshold of %d B", *v, cfg.LogsMB.Min<<20)
		}
		if *v > cfg.LogsMB.Max {
			return fail("log size %d MB exceeds allowed threshold of %d B", *v, cfg.LogsMB.Max<<20)
		}
	}
	if v := l.Concurrency; v != nil {
		if *v < cfg.Concurrency.Min {
			return fail("concurrency %d below allowed threshold of %d", *v, cfg.Concurrency.Min)
		}
		if *v > cfg.Concurrency.Max {
			return fail("concurrency %d exceeds allowed threshold of %d", *v, cfg.Concurrency.Max)
		}
	}
	return nil
}

// normalizeVersion reads a semantic version as OpenWhisk does: up to three
// dot-separated non-negative numbers, missing ones 0, not all 0.
func normalizeVersion(v string) (string, bool) {
	parts := strings.Split(v, ".")
	if v == "" || len(parts) > 3 {
		return "", false
	}
	n := [3]int{}
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 {
			return "", false
		}
		n[i] = x
	}
	if n == [3]int{} {
		return "", false
	}
	return fmt.Sprintf("%d.%d.%d", n[0], n[1], n[2]), true
}

func execSize(e *whisk.Exec) int {
	n := len(e.CodeString()) + len(e.Main) + len(e.Image)
	for _, s := range e.Components {
		n += len(s)
	}
	return n
}

func keyValuesSize(kv whisk.KeyValues) int {
	n := 0
	for _, e := range kv {
		n += len(e.Key) + len(e.Value)
	}
	return n
}

// GetAction returns the action fqn; an action addressed inside a package
// shows the package's (and binding's) parameters merged under its own. The
// returned action is shared and must not be modified.
func (c *Controller) GetAction(ctx context.Context, id whisk.Identity, fqn whisk.FQN) (*whisk.Action, error) {
	r, err := c.resolveAction(ctx, id, fqn)
	if err != nil {
		return nil, err
	}
	a := r.entry.action
	if len(r.inherited) == 0 {
		return a, nil
	}
	merged := *a
	merged.Parameters = r.inherited.Merge(a.Parameters)
	return &merged, nil
}

// DeleteAction deletes the action fqn and returns it.
func (c *Controller) DeleteAction(ctx context.Context, id whisk.Identity, fqn whisk.FQN) (*whisk.Action, error) {
	if err := entitled(id, fqn.Namespace, fqn.PathName()); err != nil {
		return nil, err
	}
	if err := c.checkWritablePackage(ctx, id, fqn); err != nil {
		return nil, err
	}
	doc, err := c.deleteEntity(ctx, store.Actions, fqn.Path(), fqn.Name)
	if err != nil {
		return nil, err
	}
	a := new(whisk.Action)
	if err := json.Unmarshal(doc.Body, a); err != nil {
		return nil, internal(fmt.Errorf("decode deleted action %s: %w", fqn, err))
	}
	return a, nil
}

// actionListPath resolves where the actions of ns (pkg == "") or of package
// ns/pkg live: a binding lists the actions of the package it refers to.
func (c *Controller) actionListPath(ctx context.Context, id whisk.Identity, ns, pkg string) (root, path string, err error) {
	if pkg == "" {
		return ns, "", entitled(id, ns, ns)
	}
	p, err := c.resolvePackage(ctx, id, ns, pkg)
	if err != nil {
		return "", "", err
	}
	return p.ns, p.ns + "/" + p.name, nil
}

// ListActions lists the actions of namespace ns, those inside its packages
// included, or of package ns/pkg; newest first.
func (c *Controller) ListActions(ctx context.Context, id whisk.Identity, ns, pkg string, page Page) ([]ActionSummary, error) {
	root, path, err := c.actionListPath(ctx, id, ns, pkg)
	if err != nil {
		return nil, err
	}
	docs, err := c.listDocs(ctx, store.Actions, root, path, page)
	if err != nil {
		return nil, err
	}
	out := make([]ActionSummary, 0, len(docs))
	for _, d := range docs {
		var s ActionSummary
		if err := json.Unmarshal(d.Body, &s); err != nil {
			c.log.Error("unreadable action skipped in list", "path", d.Path, "name", d.Name, "err", err)
			continue
		}
		if s.Annotations == nil {
			s.Annotations = whisk.KeyValues{}
		}
		out = append(out, s)
	}
	return out, nil
}

// CountActions counts what ListActions would list from skip on.
func (c *Controller) CountActions(ctx context.Context, id whisk.Identity, ns, pkg string, skip int) (int, error) {
	root, path, err := c.actionListPath(ctx, id, ns, pkg)
	if err != nil {
		return 0, err
	}
	return c.countDocs(ctx, store.Actions, root, path, skip)
}
