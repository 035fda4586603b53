package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// This file runs compositions in the controller, as OpenWhisk's
// SequenceActions and PrimitiveActions do: sequences (spec §5) and conductor
// actions (docs/conductors.md). Every component is an ordinary blocking
// activation recorded by the invoker; the composition's own record is
// synthesized here and written through the Recorder.

// Annotations of composition records.
const (
	annoConductor = "conductor"
	annoTopmost   = "topmost"
	annoCausedBy  = "causedBy"
	annoKind      = "kind"
	annoPath      = "path"
	annoLimits    = "limits"
	annoWaitTime  = "waitTime"
)

// OpenWhisk's messages for compositions, verbatim.
const (
	MsgSequenceFailed           = "Sequence failed."
	MsgCompositionTooLong       = "Too many actions in the composition."
	MsgCompositionFailure       = "Activation failure during composition."
	msgSequenceTimeoutFmt       = "Timeout reached when retrieving activation %s for sequence component."
	msgCompositionTimeoutFmt    = "Timeout reached when retrieving activation %s during composition."
	msgCompositionInvalidFmt    = "Failed to parse action name from json value %s during composition."
	msgCompositionNotFoundFmt   = "Failed to resolve action with name '%s' during composition."
	msgCompositionForbiddenFmt  = "Failed entitlement check for action with name '%s' during composition."
	componentWaitBeyondTimeout  = time.Minute
	compositionConductorsFactor = 2 // a composition may run 2n+1 conductor activations for n components
)

// errAborted stops a composition that must not be recorded: the platform
// went away under a durable one, which the queue will run again.
var errAborted = errors.New("composition aborted: no invoker")

// composeRun is what every activation of one topmost composition shares.
type composeRun struct {
	id     whisk.Identity
	tid    string
	apiKey string
	// durable compositions are redelivered by the queue, so a platform that
	// cannot take work aborts them instead of recording a failure.
	durable bool
	// waitTime (ms, receipt to start) and onRecorded (called once the record
	// is durable) belong to the topmost composition's record.
	waitTime   int64
	onRecorded func()
}

// isComposition reports whether an action runs in the controller: a
// sequence, or a conductor action (the annotation has no effect on sequences).
func isComposition(a *whisk.Action) bool {
	return a.Exec.Kind == whisk.KindSequence || a.Annotations.IsTruthy(annoConductor)
}

// Composes reports whether the action of accepted work is a composition,
// which the controller runs rather than an invoker.
func (c *Controller) Composes(a *whisk.Action) bool { return a != nil && isComposition(a) }

// invokeComposition is Invoke for sequences and conductor actions: blocking
// callers wait up to their wait and get 202 past it (the composition goes
// on); non-blocking ones are answered once the work is durable.
func (c *Controller) invokeComposition(ctx context.Context, id whisk.Identity, req InvokeRequest, r resolvedAction, run *runnable, slot *slot) (InvokeResult, error) {
	// Arguments are checked against final parameters as for any invocation;
	// a sequence passes the body on as it came, a conductor merges its own
	// parameters on each of its activations.
	if _, err := run.args(req.Args); err != nil {
		return InvokeResult{}, err
	}
	body := bytes.TrimSpace(req.Args)
	if len(body) == 0 {
		body = json.RawMessage("{}")
	}
	msg := &whisk.ActivationMessage{
		ActivationID:  whisk.NewActivationID(),
		TransactionID: req.TransactionID,
		Identity:      id,
		ActionFQN:     r.fqn,
		ActionRev:     r.entry.rev,
		Action:        r.entry.action,
		Args:          body,
		Blocking:      req.Blocking,
		Received:      c.now(),
		APIKey:        req.APIKey,
	}
	if r.binding != "" {
		msg.ExtraAnnotations = whisk.KeyValues{}.Set(annoBinding, r.binding)
	}
	met := c.actionMetrics(id, r)
	if !req.Blocking {
		if err := c.accept.Accept(ctx, msg); err != nil {
			return InvokeResult{}, unavailable(err)
		}
		met.accepted.Inc()
		return InvokeResult{ActivationID: msg.ActivationID}, nil
	}

	done := make(chan *whisk.Activation, 1)
	rc := &composeRun{id: id, tid: req.TransactionID, apiKey: req.APIKey}
	go func() {
		act, _ := c.runTopmost(rc, r, msg)
		done <- act
	}()
	wait := req.Wait
	if wait <= 0 || wait > c.cfg.MaxBlockingWait {
		wait = c.cfg.MaxBlockingWait
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case act := <-done:
		slot.release()
		met.observe(act, c.now().Sub(msg.Received))
		return InvokeResult{ActivationID: act.ActivationID, Activation: act}, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	go func() {
		act := <-done
		slot.release()
		met.observe(act, c.now().Sub(msg.Received))
	}()
	met.accepted.Inc()
	return InvokeResult{ActivationID: msg.ActivationID}, nil
}

// runTopmost runs a composition invoked directly (not as a component) under
// the activation id of msg and records it.
func (c *Controller) runTopmost(rc *composeRun, r resolvedAction, msg *whisk.ActivationMessage) (*whisk.Activation, error) {
	rc.waitTime = c.now().Sub(msg.Received).Milliseconds()
	if r.entry.action.Exec.Kind == whisk.KindSequence {
		count := 0
		return c.runSequence(rc, r, msg.ActivationID, msg.Args, "", true, &count)
	}
	return c.runConductor(rc, r, msg.ActivationID, msg.Args, "", &compositionAccounting{})
}

// ComposeAccepted runs accepted (durable) work whose action is a
// composition and calls done once its record is durable (true) or when the
// work must be delivered again (false: the platform could not run it).
func (c *Controller) ComposeAccepted(msg *whisk.ActivationMessage, done func(recorded bool)) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fqn := msg.ActionFQN
	if b, ok := msg.ExtraAnnotations.GetString(annoBinding); ok && b != "" {
		// Resolve through the binding again, so that its parameters apply.
		ns, pkg := whisk.SplitPath(b)
		fqn = whisk.FQN{Namespace: ns, Package: pkg, Name: msg.ActionFQN.Name}
	}
	r, err := c.resolveAction(ctx, msg.Identity, fqn)
	switch whisk.CodeOf(err) {
	case whisk.CodeNotFound, whisk.CodeForbidden, whisk.CodeConflict:
	default:
		if err != nil {
			c.log.Warn("resolving accepted composition failed; retrying later", "activation", msg.ActivationID, "err", err)
			done(false)
			return
		}
	}
	if err != nil || !isComposition(r.entry.action) {
		act := c.failedRecord(msg, whisk.ErrorResponse(whisk.StatusApplicationError, "The requested action no longer exists."))
		c.recordThen(act, func() { done(true) })
		return
	}
	rc := &composeRun{id: msg.Identity, tid: msg.TransactionID, apiKey: msg.APIKey, durable: true,
		onRecorded: func() { done(true) }}
	if _, err := c.runTopmost(rc, r, msg); err != nil {
		done(false)
	}
}

func (c *Controller) failedRecord(msg *whisk.ActivationMessage, resp whisk.Response) *whisk.Activation {
	now := c.nowMS()
	return &whisk.Activation{
		Namespace: msg.Identity.Namespace, Name: msg.ActionFQN.Name, Subject: msg.Identity.Subject,
		ActivationID: msg.ActivationID, Start: now, End: now, Response: resp, StatusCode: int(resp.StatusCode),
		Logs: []string{}, Annotations: whisk.KeyValues{}.Set(annoPath, msg.ActionFQN.PathName()),
	}
}

// thenRecorder is implemented by record writers that can say when a record
// is durable (the invoker's Recorder).
type thenRecorder interface {
	RecordThen(act *whisk.Activation, done func())
}

// recordThen hands act to the record writer and calls done once it is
// durable (at once when the writer cannot tell).
func (c *Controller) recordThen(act *whisk.Activation, done func()) {
	switch rec := c.recorder.(type) {
	case thenRecorder:
		rec.RecordThen(act, done)
		return
	case nil:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.store.PutActivations(ctx, []*whisk.Activation{act}); err != nil {
			c.log.Error("composition record lost", "activation", act.ActivationID, "err", err)
		}
	default:
		rec.Record(act)
	}
	if done != nil {
		done()
	}
}

// sequenceAccounting is OpenWhisk's SequenceAccounting: what the components
// of one sequence did so far.
type sequenceAccounting struct {
	logs      []string
	duration  int64
	maxMemory int // 0 until a component reported its limits
	response  *whisk.Response
	stop      bool
}

func (a *sequenceAccounting) add(act *whisk.Activation) {
	a.logs = append(a.logs, act.ActivationID)
	a.duration += act.Duration
	if m := memoryOf(act); m > a.maxMemory {
		a.maxMemory = m
	}
	resp := act.Response
	a.response = &resp
}

func (a *sequenceAccounting) fail(resp whisk.Response, id string) {
	if id != "" {
		a.logs = append(a.logs, id)
	}
	a.response = &resp
	a.stop = true
}

// memoryOf reads the memory of an activation's limits annotation.
func memoryOf(act *whisk.Activation) int {
	var l struct {
		Memory int `json:"memory"`
	}
	if raw := act.Annotations.Get(annoLimits); raw != nil && json.Unmarshal(raw, &l) == nil {
		return l.Memory
	}
	return 0
}

// runSequence runs the components of sequence r in order under activation
// id seqID (spec §5): the first gets args, each later one the previous
// result when it is an object or an array; the first failure or result with
// an error stops it. count is the number of atomic actions run so far by the
// topmost sequence. cause is the enclosing composition's activation id ("" for
// a topmost sequence).
func (c *Controller) runSequence(rc *composeRun, r resolvedAction, seqID string, args json.RawMessage, cause string, topmost bool, count *int) (*whisk.Activation, error) {
	start := c.now()
	seq := r.entry.action
	acc := &sequenceAccounting{logs: []string{}}
	// The first component gets the sequence's input as it came.
	payload := args
	for _, comp := range seq.Exec.Components {
		if *count >= c.cfg.SequenceMaxLength {
			acc.fail(whisk.ErrorResponse(whisk.StatusApplicationError, MsgSequenceTooLong), "")
			break
		}
		cr, err := c.resolveComponent(comp, r.fqn.Namespace)
		if err != nil {
			acc.fail(whisk.ErrorResponse(whisk.StatusApplicationError, MsgSequenceComponent), "")
			break
		}
		act, id, err := c.runComponent(rc, cr, payload, seqID, count)
		if errors.Is(err, errAborted) {
			return nil, err
		}
		switch {
		case err != nil:
			c.log.Error("sequence component failed", "sequence", seqID, "component", comp, "err", err)
			acc.fail(whisk.ErrorResponse(whisk.StatusInternalError, MsgSequenceFailed), "")
		case act == nil:
			acc.fail(whisk.ErrorResponse(whisk.StatusInternalError, fmt.Sprintf(msgSequenceTimeoutFmt, id)), id)
		default:
			acc.add(act)
			if *count > c.cfg.SequenceMaxLength {
				// Defensive, as in OpenWhisk: a nested sequence ran past the limit.
				resp := whisk.ErrorResponse(whisk.StatusApplicationError, MsgSequenceTooLong)
				acc.response, acc.stop = &resp, true
			} else if hasErrorField(act.Response.Result) {
				acc.stop = true
			}
			payload = nextPayload(act.Response.Result)
		}
		if acc.stop {
			break
		}
	}
	if acc.response == nil {
		// No component ran: the sequence answers its input.
		resp := whisk.NewResponse(whisk.StatusSuccess, args)
		acc.response = &resp
	}
	end := c.now()
	ann := whisk.KeyValues{}.
		Set(annoTopmost, topmost).
		Set(annoPath, r.fqn.PathName()).
		Set(annoKind, whisk.KindSequence)
	if !topmost {
		ann = ann.Set(annoCausedBy, whisk.KindSequence)
	}
	if acc.maxMemory > 0 {
		l := seq.Limits
		l.Memory = acc.maxMemory
		ann = ann.Set(annoLimits, l)
	}
	if r.binding != "" {
		ann = ann.Set(annoBinding, r.binding)
	}
	act := &whisk.Activation{
		Namespace:    rc.id.Namespace,
		Name:         r.fqn.Name,
		Version:      seq.Version,
		Subject:      rc.id.Subject,
		ActivationID: seqID,
		Start:        start.UnixMilli(),
		End:          max(end.UnixMilli(), start.UnixMilli()),
		Duration:     acc.duration,
		Response:     *acc.response,
		StatusCode:   int(acc.response.StatusCode),
		Logs:         acc.logs,
		Annotations:  ann,
	}
	if !topmost {
		act.Cause = cause
	}
	c.finishComposition(rc, act, topmost)
	return act, nil
}

// finishComposition records a composition's activation; the topmost one of
// durable work acknowledges the work once its record is durable.
func (c *Controller) finishComposition(rc *composeRun, act *whisk.Activation, topmost bool) {
	if !topmost {
		c.recordThen(act, nil)
		return
	}
	act.Annotations = act.Annotations.Set(annoWaitTime, rc.waitTime)
	c.recordThen(act, rc.onRecorded)
}

// hasErrorField reports whether a result is an object with a top-level
// "error", which stops a sequence.
func hasErrorField(result json.RawMessage) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(result, &m) != nil {
		return false
	}
	_, ok := m["error"]
	return ok
}

// nextPayload is what the next component gets: an object or array result as
// it is, anything else nothing.
func nextPayload(result json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(result)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return t
	}
	return nil
}

// resolveComponent finds a sequence component at run time, as the
// sequence's owner sees it: the owner was entitled to it when the sequence
// was made, and a sequence shared through a published package may run
// components its callers cannot read themselves, as in OpenWhisk. A
// component of another namespace that is no longer published is gone.
func (c *Controller) resolveComponent(comp, owner string) (resolvedAction, error) {
	f, err := parseComponent(comp, owner)
	if err != nil {
		return resolvedAction{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return c.resolveAction(ctx, whisk.Identity{Namespace: owner}, f)
}

// runComponent runs one component of a composition, whatever its kind, and
// returns its record; a nil record with an id means its result did not come
// within the wait. count, when not nil, counts the atomic actions of the
// enclosing topmost sequence.
func (c *Controller) runComponent(rc *composeRun, r resolvedAction, payload json.RawMessage, cause string, count *int) (*whisk.Activation, string, error) {
	a := r.entry.action
	switch {
	case a.Exec.Kind == whisk.KindSequence:
		id := whisk.NewActivationID()
		act, err := c.runSequence(rc, r, id, payload, cause, false, count)
		return act, id, err
	case a.Annotations.IsTruthy(annoConductor):
		*count++
		id := whisk.NewActivationID()
		act, err := c.runConductor(rc, r, id, payload, cause, &compositionAccounting{})
		return act, id, err
	default:
		*count++
		return c.runAtomic(rc, r, payload, cause)
	}
}

// runAtomic runs one activation of an ordinary action as a component,
// waiting up to its timeout plus a minute. Throttles are not applied: the
// composition was admitted as a whole.
func (c *Controller) runAtomic(rc *composeRun, r resolvedAction, payload json.RawMessage, cause string) (*whisk.Activation, string, error) {
	run := r.entry.run
	if len(r.inherited) > 0 {
		run = c.newRunnableWith(r.entry.action, r.inherited.Merge(r.entry.action.Parameters))
	}
	if run.kindErr != nil {
		return nil, "", run.kindErr
	}
	args, err := componentArgs(run, payload)
	if err != nil {
		return nil, "", err
	}
	msg := &whisk.ActivationMessage{
		ActivationID:  whisk.NewActivationID(),
		TransactionID: rc.tid,
		Identity:      rc.id,
		ActionFQN:     r.fqn,
		ActionRev:     r.entry.rev,
		Action:        r.entry.action,
		Args:          args,
		InitEnv:       run.initEnv,
		Cause:         cause,
		Blocking:      true,
		Received:      c.now(),
	}
	if run.provideKey {
		msg.APIKey = rc.apiKey
	}
	extra := whisk.KeyValues{}.Set(annoCausedBy, whisk.KindSequence)
	if r.binding != "" {
		extra = extra.Set(annoBinding, r.binding)
	}
	msg.ExtraAnnotations = extra
	ch, err := c.invoker.Start(msg)
	if err != nil {
		if rc.durable && whisk.CodeOf(err) == whisk.CodeUnavailable {
			return nil, "", errAborted
		}
		return nil, "", err
	}
	wait := time.Duration(r.entry.action.Limits.Timeout)*time.Millisecond + componentWaitBeyondTimeout
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case act := <-ch:
		return act, act.ActivationID, nil
	case <-timer.C:
		return nil, msg.ActivationID, nil
	}
}

// componentArgs merges an action's default parameters under a component's
// input. Final parameters are not enforced between components, as in
// OpenWhisk; an array input is passed as it is.
func componentArgs(run *runnable, payload json.RawMessage) (json.RawMessage, error) {
	t := bytes.TrimSpace(payload)
	if len(t) > 0 && t[0] == '[' {
		return t, nil
	}
	open := *run
	open.defined = nil
	return open.args(t)
}

// compositionAccounting counts the activations of a composition and of the
// compositions nested in it, which share the limits.
type compositionAccounting struct {
	components int
	conductors int
}

// conductorSession is OpenWhisk's Session: one conductor action invocation.
type conductorSession struct {
	id        string
	start     time.Time
	cause     string
	duration  int64
	maxMemory int
	state     map[string]json.RawMessage
	logs      []string
	acct      *compositionAccounting
}

// runConductor runs a conductor action (docs/conductors.md): the conductor
// returns {action, params, state}; action is run on params, and the
// conductor again on its result overlaid by state, until the conductor
// returns no action. Its result (params if given) ends the composition.
func (c *Controller) runConductor(rc *composeRun, r resolvedAction, sessID string, args json.RawMessage, cause string, acct *compositionAccounting) (*whisk.Activation, error) {
	s := &conductorSession{
		id: sessID, start: c.now(), cause: cause, maxMemory: r.entry.action.Limits.Memory,
		logs: []string{}, acct: acct,
	}
	resp, err := c.conductorLoop(rc, r, s, args)
	if err != nil {
		return nil, err
	}
	a := r.entry.action
	l := a.Limits
	l.Memory = s.maxMemory
	ann := whisk.KeyValues{}.
		Set(annoTopmost, cause == "").
		Set(annoPath, r.fqn.PathName()).
		Set(annoKind, whisk.KindSequence).
		Set(annoConductor, true)
	if cause != "" {
		ann = ann.Set(annoCausedBy, whisk.KindSequence)
	}
	ann = ann.Set(annoLimits, l)
	if r.binding != "" {
		ann = ann.Set(annoBinding, r.binding)
	}
	end := c.now()
	act := &whisk.Activation{
		Namespace:    rc.id.Namespace,
		Name:         r.fqn.Name,
		Version:      a.Version,
		Subject:      rc.id.Subject,
		ActivationID: sessID,
		Cause:        cause,
		Start:        s.start.UnixMilli(),
		End:          max(end.UnixMilli(), s.start.UnixMilli()),
		Duration:     s.duration,
		Response:     resp,
		StatusCode:   int(resp.StatusCode),
		Logs:         s.logs,
		Annotations:  ann,
	}
	c.finishComposition(rc, act, cause == "")
	return act, nil
}

// conductorLoop alternates conductor and component activations and returns
// the composition's response.
func (c *Controller) conductorLoop(rc *composeRun, r resolvedAction, s *conductorSession, payload json.RawMessage) (whisk.Response, error) {
	for {
		if s.acct.conductors > compositionConductorsFactor*c.cfg.SequenceMaxLength {
			return whisk.ErrorResponse(whisk.StatusApplicationError, MsgCompositionTooLong), nil
		}
		params := overlay(payload, s.state)
		s.acct.conductors++
		act, id, err := c.runAtomic(rc, r, params, s.id)
		if errors.Is(err, errAborted) {
			return whisk.Response{}, err
		}
		if err != nil {
			c.log.Error("conductor activation failed", "composition", s.id, "err", err)
			return whisk.ErrorResponse(whisk.StatusInternalError, MsgCompositionFailure), nil
		}
		if act == nil {
			s.logs = append(s.logs, id)
			return whisk.ErrorResponse(whisk.StatusInternalError, fmt.Sprintf(msgCompositionTimeoutFmt, id)), nil
		}
		s.account(act)

		result := resultObject(act.Response.Result)
		var nextParams json.RawMessage
		if p, ok := result["params"]; ok {
			nextParams = boxObject(p, "value")
		}
		s.state = nil
		if st, ok := result["state"]; ok {
			var m map[string]json.RawMessage
			if json.Unmarshal(boxObject(st, "state"), &m) == nil {
				s.state = m
			}
		}
		next, ok := result["action"]
		if !ok {
			out := nextParams
			if out == nil {
				out = mustMarshal(result)
			}
			return whisk.NewResponse(act.Response.StatusCode, out), nil
		}
		var name string
		var fqn whisk.FQN
		parsed := json.Unmarshal(next, &name) == nil
		if parsed {
			fqn, err = whisk.ParseFQN(name, rc.id.Namespace)
			parsed = err == nil
		}
		if !parsed {
			payload = errorObject(fmt.Sprintf(msgCompositionInvalidFmt, compact(next)))
			continue
		}
		fqn = fqn.ResolveNamespace(rc.id.Namespace)
		if s.acct.components >= c.cfg.SequenceMaxLength {
			payload = errorObject(MsgCompositionTooLong)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cr, err := c.resolveAction(ctx, rc.id, fqn)
		cancel()
		switch whisk.CodeOf(err) {
		case whisk.CodeForbidden:
			payload = errorObject(fmt.Sprintf(msgCompositionForbiddenFmt, fqn.PathName()))
			continue
		}
		if err != nil {
			payload = errorObject(fmt.Sprintf(msgCompositionNotFoundFmt, fqn.PathName()))
			continue
		}

		var cact *whisk.Activation
		var cid string
		ca := cr.entry.action
		switch {
		case ca.Exec.Kind != whisk.KindSequence && ca.Annotations.IsTruthy(annoConductor):
			// A nested composition shares this one's limits.
			cid = whisk.NewActivationID()
			cact, err = c.runConductor(rc, cr, cid, nextParams, s.id, s.acct)
		case ca.Exec.Kind == whisk.KindSequence:
			s.acct.components++
			cid = whisk.NewActivationID()
			count := 0
			cact, err = c.runSequence(rc, cr, cid, nextParams, s.id, false, &count)
		default:
			s.acct.components++
			cact, cid, err = c.runAtomic(rc, cr, nextParams, s.id)
		}
		if errors.Is(err, errAborted) {
			return whisk.Response{}, err
		}
		if err != nil {
			c.log.Error("composition component failed", "composition", s.id, "component", fqn.String(), "err", err)
			return whisk.ErrorResponse(whisk.StatusInternalError, MsgCompositionFailure), nil
		}
		if cact == nil {
			s.logs = append(s.logs, cid)
			return whisk.ErrorResponse(whisk.StatusInternalError, fmt.Sprintf(msgCompositionTimeoutFmt, cid)), nil
		}
		s.account(cact)
		payload = mustMarshal(resultObject(cact.Response.Result))
	}
}

func (s *conductorSession) account(act *whisk.Activation) {
	s.logs = append(s.logs, act.ActivationID)
	s.duration += act.Duration
	if m := memoryOf(act); m > s.maxMemory {
		s.maxMemory = m
	}
}

// resultObject is an activation's result as an object (OpenWhisk's
// resultAsJson): anything else is empty.
func resultObject(result json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(result, &m) != nil || m == nil {
		return map[string]json.RawMessage{}
	}
	return m
}

// boxObject returns v if it is an object, else {key: v}.
func boxObject(v json.RawMessage, key string) json.RawMessage {
	t := bytes.TrimSpace(v)
	if len(t) > 0 && t[0] == '{' {
		return t
	}
	return mustMarshal(map[string]json.RawMessage{key: t})
}

// overlay returns payload (an object or nothing) with the fields of state
// added, state winning.
func overlay(payload json.RawMessage, state map[string]json.RawMessage) json.RawMessage {
	if len(state) == 0 {
		return payload
	}
	m := resultObject(payload)
	for k, v := range state {
		m[k] = v
	}
	return mustMarshal(m)
}

func errorObject(msg string) json.RawMessage {
	return mustMarshal(map[string]string{"error": msg})
}

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("{}")
	}
	return b
}

func compact(raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}
