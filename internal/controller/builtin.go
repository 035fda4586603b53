package controller

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// KindBuiltin is the exec kind of platform-native actions: actions whose code
// is a Go function of this binary, run by the controller in-process rather
// than in a sandbox. Feed actions such as /whisk.system/alarms/alarm are
// built-in, so that a feed needs no second service. No runtime has this
// kind, so it is not listed in GET / and a client cannot create an action of
// it (PUT answers that the runtime is not supported): built-in actions are
// installed by the platform, in whisk.system.
const KindBuiltin = "builtin"

// BuiltinAction is the code of a built-in action. Run receives the caller
// (whose namespace the activation is recorded in) and the merged arguments,
// a JSON object (package < binding < action parameters < request body). It
// returns the activation's result, a JSON object, and its status: a failure
// that is the caller's (bad parameters) is StatusApplicationError with a
// result of {"error": ...}. Run may be called concurrently; it must return
// when ctx ends.
type BuiltinAction interface {
	Run(ctx context.Context, caller whisk.Identity, args json.RawMessage) (json.RawMessage, whisk.StatusCode)
}

// BuiltinFunc adapts a function to BuiltinAction.
type BuiltinFunc func(ctx context.Context, caller whisk.Identity, args json.RawMessage) (json.RawMessage, whisk.StatusCode)

// Run implements BuiltinAction.
func (f BuiltinFunc) Run(ctx context.Context, caller whisk.Identity, args json.RawMessage) (json.RawMessage, whisk.StatusCode) {
	return f(ctx, caller, args)
}

// extensions are what other components plug into a built controller:
// built-in actions, reactions to trigger deletion, and the trigger fire
// throttle. The zero value is ready for use.
type extensions struct {
	mu             sync.RWMutex
	builtins       map[whisk.FQN]BuiltinAction
	triggerDeleted []func(ctx context.Context, namespace, name string)

	fires throttles // counts fires per namespace and minute, apart from invocations
}

// RegisterBuiltin makes b the code of the built-in action stored at action
// (its package resolved, no binding). The action document itself, with exec
// kind KindBuiltin, is installed separately; one without registered code
// fails its activations with a whisk internal error.
func (c *Controller) RegisterBuiltin(action whisk.FQN, b BuiltinAction) {
	c.ext.mu.Lock()
	defer c.ext.mu.Unlock()
	if c.ext.builtins == nil {
		c.ext.builtins = map[whisk.FQN]BuiltinAction{}
	}
	c.ext.builtins[action] = b
}

func (c *Controller) builtin(action whisk.FQN) BuiltinAction {
	c.ext.mu.RLock()
	defer c.ext.mu.RUnlock()
	return c.ext.builtins[action]
}

// MsgBuiltinMissing is the result of a built-in action this server has no
// code for (installed by a newer version, say).
const MsgBuiltinMissing = "The action is a platform action that this server does not provide."

// invokeBuiltin runs a built-in action in this process and records its
// activation like any other: in the caller's namespace, with its path, kind
// and limits. A non-blocking invocation runs in the background: the work is
// a control-plane call (a feed's lifecycle event), so it is not put on the
// durable queue meant for functions.
func (c *Controller) invokeBuiltin(ctx context.Context, id whisk.Identity, req InvokeRequest, r resolvedAction, args json.RawMessage, slot *slot) (InvokeResult, error) {
	a := r.entry.action
	b := c.builtin(r.fqn)
	ann := whisk.KeyValues{}.
		Set("limits", a.Limits).
		Set("path", r.fqn.PathName()).
		Set("kind", KindBuiltin).
		Set("timeout", false)
	if r.binding != "" {
		ann = ann.Set(annoBinding, r.binding)
	}
	act := &whisk.Activation{
		Namespace: id.Namespace, Name: r.fqn.Name, Version: a.Version, Subject: id.Subject,
		ActivationID: whisk.NewActivationID(), Logs: []string{}, Annotations: ann,
	}
	met := c.actionMetrics(id, r)
	received := c.now()
	timeout := time.Duration(a.Limits.Timeout) * time.Millisecond
	if timeout <= 0 {
		timeout = time.Duration(c.cfg.DefaultTimeoutMS) * time.Millisecond
	}
	run := func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		start := c.now()
		result, status := json.RawMessage(nil), whisk.StatusInternalError
		if b == nil {
			result, _ = json.Marshal(map[string]string{"error": MsgBuiltinMissing})
		} else {
			result, status = b.Run(ctx, id, args)
		}
		if ctx.Err() == context.DeadlineExceeded {
			act.Annotations = act.Annotations.Set("timeout", true)
		}
		end := c.now()
		act.Start, act.End = start.UnixMilli(), end.UnixMilli()
		act.Duration = act.End - act.Start
		act.Response = whisk.NewResponse(status, result)
		act.StatusCode = int(status)
		act.Annotations = act.Annotations.Set("waitTime", start.Sub(received).Milliseconds())
		c.record(act)
		met.observe(act, c.now().Sub(received))
	}
	if !req.Blocking {
		go func() {
			defer slot.release()
			run(context.WithoutCancel(ctx))
		}()
		met.accepted.Inc()
		return InvokeResult{ActivationID: act.ActivationID}, nil
	}
	run(context.WithoutCancel(ctx))
	slot.release()
	return InvokeResult{ActivationID: act.ActivationID, Activation: act}, nil
}

// record hands a record that no invoker writes to the record writer, or
// writes it itself when there is none.
func (c *Controller) record(act *whisk.Activation) {
	if c.recorder != nil {
		c.recorder.Record(act)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.store.PutActivations(ctx, []*whisk.Activation{act}); err != nil {
		c.log.Error("storing an activation record failed", "activation", act.ActivationID, "err", err)
	}
}
