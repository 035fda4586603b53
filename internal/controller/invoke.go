package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// InvokeRequest is one invocation of an action.
type InvokeRequest struct {
	Action whisk.FQN // the namespace already resolved ("_" replaced)
	// Args is the request body: a JSON object, or empty for none. The caller
	// has checked that it is a JSON object.
	Args          json.RawMessage
	Blocking      bool
	Wait          time.Duration // blocking wait; 0 or more than Config.MaxBlockingWait means the maximum
	TransactionID string
	// APIKey is the caller's key ("uuid:secret"); the function receives it
	// unless the action's provide-api-key annotation says otherwise.
	APIKey string
}

// InvokeResult is the outcome of Invoke. Activation is nil when the work was
// only accepted: a non-blocking invocation, or a blocking one that did not
// finish within its wait and goes on in the background.
type InvokeResult struct {
	ActivationID string
	Activation   *whisk.Activation
}

// MsgUnavailable is akka-http's 503 text, which OpenWhisk returns when it
// cannot take work.
const MsgUnavailable = "The server is currently unavailable (because it is overloaded or down for maintenance)."

// Invoke runs an action (spec §3.3). Throttles are checked first, as in
// OpenWhisk, then the action is resolved, its parameters merged under the
// arguments and the activation started (blocking) or made durable
// (non-blocking).
func (c *Controller) Invoke(ctx context.Context, id whisk.Identity, req InvokeRequest) (InvokeResult, error) {
	perMinute, concurrent, _ := c.individualLimits(id)
	slot, reason, err := c.throttles.admit(id.Namespace, c.now(), perMinute, concurrent, req.Blocking)
	if err != nil {
		c.met.throttledBy.WithLabelValues(id.Namespace, reason).Inc()
		return InvokeResult{}, err
	}
	res, err := c.invoke(ctx, id, req, slot)
	if err != nil {
		slot.release()
	}
	return res, err
}

func (c *Controller) invoke(ctx context.Context, id whisk.Identity, req InvokeRequest, slot *slot) (InvokeResult, error) {
	r, err := c.resolveAction(ctx, id, req.Action)
	if err != nil {
		return InvokeResult{}, err
	}
	run := r.entry.run
	if len(r.inherited) > 0 {
		run = c.newRunnableWith(r.entry.action, r.inherited.Merge(r.entry.action.Parameters))
	}
	if run.kindErr != nil {
		return InvokeResult{}, run.kindErr
	}
	if isComposition(r.entry.action) {
		return c.invokeComposition(ctx, id, req, r, run, slot)
	}
	args, err := run.args(req.Args)
	if err != nil {
		return InvokeResult{}, err
	}
	if r.entry.action.Exec.Kind == KindBuiltin {
		return c.invokeBuiltin(ctx, id, req, r, args, slot)
	}
	msg := &whisk.ActivationMessage{
		ActivationID:  whisk.NewActivationID(),
		TransactionID: req.TransactionID,
		Identity:      id,
		ActionFQN:     r.fqn,
		ActionRev:     r.entry.rev,
		Action:        r.entry.action,
		Args:          args,
		InitEnv:       run.initEnv,
		Blocking:      req.Blocking,
		Received:      c.now(),
	}
	if run.provideKey {
		msg.APIKey = req.APIKey
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

	ch, err := c.invoker.Start(msg)
	if err != nil {
		return InvokeResult{}, unavailable(err)
	}
	wait := req.Wait
	if wait <= 0 || wait > c.cfg.MaxBlockingWait {
		wait = c.cfg.MaxBlockingWait
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case act := <-ch:
		slot.release()
		met.observe(act, c.now().Sub(msg.Received))
		return InvokeResult{ActivationID: msg.ActivationID, Activation: act}, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	// The activation goes on; the caller fetches it later. Its slot is freed
	// when it completes.
	received := msg.Received
	go func() {
		act := <-ch
		slot.release()
		met.observe(act, c.now().Sub(received))
	}()
	met.accepted.Inc()
	return InvokeResult{ActivationID: msg.ActivationID}, nil
}

// unavailable keeps classified errors and turns anything else from the
// invoker or the durable queue into a 503: work that could not be taken must
// never look accepted.
func unavailable(err error) error {
	var werr *whisk.Error
	if errors.As(err, &werr) {
		return err
	}
	return &whisk.Error{Code: whisk.CodeUnavailable, Message: MsgUnavailable, Err: err}
}

// runnable is what an invocation of an action needs beyond its document,
// computed once per cached action so that the hot path only splices bytes.
type runnable struct {
	kindErr    error // the kind is deprecated or unknown: readable, not runnable
	sequence   bool
	members    []member          // default arguments, init parameters excluded
	defined    map[string]bool   // parameters with a non-null value, when the action is final
	initEnv    map[string]string // init parameters, strings unquoted
	provideKey bool
}

// member is one default argument: its key and its encoded `"key":value`.
type member struct {
	key     string
	encoded []byte
}

func (c *Controller) newRunnable(a *whisk.Action) *runnable {
	return c.newRunnableWith(a, a.Parameters)
}

// newRunnableWith prepares a with params as its effective parameters
// (package and binding parameters merged under the action's own).
func (c *Controller) newRunnableWith(a *whisk.Action, params whisk.KeyValues) *runnable {
	r := &runnable{sequence: a.Exec.Kind == whisk.KindSequence}
	if !r.sequence {
		r.kindErr = c.kindUsable(a.Exec.Kind)
	}
	pk := a.Annotations.Get(annoProvideAPIKey)
	r.provideKey = pk == nil || whisk.Truthy(pk)
	final := a.Annotations.IsTruthy(annoFinal)
	if final {
		r.defined = map[string]bool{}
	}
	for _, p := range params {
		value := p.Value
		if len(value) == 0 {
			value = json.RawMessage("null")
		}
		if final && !bytes.Equal(bytes.TrimSpace(value), []byte("null")) {
			r.defined[p.Key] = true
		}
		if p.Init {
			if r.initEnv == nil {
				r.initEnv = map[string]string{}
			}
			var s string
			if json.Unmarshal(value, &s) != nil {
				s = string(value)
			}
			r.initEnv[p.Key] = s
			continue
		}
		key, _ := json.Marshal(p.Key)
		enc := make([]byte, 0, len(key)+1+len(value))
		enc = append(append(append(enc, key...), ':'), value...)
		r.members = append(r.members, member{key: p.Key, encoded: enc})
	}
	return r
}

// args merges the default arguments under body (a JSON object or empty)
// without re-encoding body: its members are copied as they came.
func (r *runnable) args(body json.RawMessage) (json.RawMessage, error) {
	body = bytes.TrimSpace(body)
	if len(r.members) == 0 && r.defined == nil {
		if len(body) == 0 {
			return json.RawMessage("{}"), nil
		}
		return body, nil
	}
	var given map[string]json.RawMessage
	if len(body) > 0 {
		if err := json.Unmarshal(body, &given); err != nil {
			return nil, Malformed(err.Error())
		}
	}
	for k := range given {
		if r.defined[k] {
			return nil, whisk.BadRequest(whisk.MsgFinalParams)
		}
	}
	if len(r.members) == 0 {
		if len(body) == 0 {
			return json.RawMessage("{}"), nil
		}
		return body, nil
	}
	size := len(body) + 2
	for _, m := range r.members {
		size += len(m.encoded) + 1
	}
	out := make([]byte, 0, size)
	out = append(out, '{')
	n := 0
	for _, m := range r.members {
		if _, overridden := given[m.key]; overridden {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, m.encoded...)
		n++
	}
	if len(body) >= 2 {
		if inner := bytes.TrimSpace(body[1 : len(body)-1]); len(inner) > 0 {
			if n > 0 {
				out = append(out, ',')
			}
			out = append(out, inner...)
		}
	}
	return append(out, '}'), nil
}
