package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// Web actions (spec §9): an action annotated web-export is reachable
// without credentials at /api/v1/web/{ns}/{pkg|default}/{action}. It runs as
// its owner: the activation is the owner's, counted against the owner's
// throttles. Nothing about an action that is missing, not exported or not
// reachable leaks: all of them are the same 404.

// Web action annotations.
const (
	AnnoWebExport     = "web-export"
	AnnoRawHTTP       = "raw-http"
	AnnoCustomOptions = "web-custom-options"
	AnnoRequireAuth   = "require-whisk-auth"
)

// WebAction is an exported action found for a web request.
type WebAction struct {
	Owner whisk.Identity // the namespace owning the action, who runs it
	// FQN is the action as the URL names it (a binding unresolved), to
	// invoke it with.
	FQN         whisk.FQN
	Annotations whisk.KeyValues
}

// RawHTTP reports whether the action takes the request raw (__ow_query,
// __ow_body) rather than parsed into parameters.
func (w *WebAction) RawHTTP() bool { return w.Annotations.IsTruthy(AnnoRawHTTP) }

// CustomOptions reports whether the action answers OPTIONS itself, CORS
// headers included.
func (w *WebAction) CustomOptions() bool { return w.Annotations.IsTruthy(AnnoCustomOptions) }

// ResolveWebAction finds the web action ns/pkg/name (pkg "" for none) and
// its owner. Every way of not finding it is whisk.NotFound.
func (c *Controller) ResolveWebAction(ctx context.Context, fqn whisk.FQN) (*WebAction, error) {
	owner, err := c.identityOfNamespace(ctx, fqn.Namespace)
	if err != nil {
		return nil, err
	}
	r, err := c.resolveAction(ctx, owner, fqn)
	switch whisk.CodeOf(err) {
	case whisk.CodeNotFound, whisk.CodeForbidden, whisk.CodeConflict:
		return nil, whisk.NotFound()
	}
	if err != nil {
		return nil, err
	}
	a := r.entry.action
	if !a.Annotations.IsTruthy(AnnoWebExport) {
		return nil, whisk.NotFound()
	}
	return &WebAction{Owner: owner, FQN: fqn, Annotations: a.Annotations}, nil
}

// identityOfNamespace is the identity owning namespace ns, cached as
// verified keys are. A missing namespace is whisk.NotFound.
func (c *Controller) identityOfNamespace(ctx context.Context, ns string) (whisk.Identity, error) {
	now := c.now()
	if id, ok := c.owners.get(ns, now); ok {
		return id, nil
	}
	n, err := c.store.GetNamespace(ctx, ns)
	if errors.Is(err, whisk.ErrNotFound) {
		return whisk.Identity{}, whisk.NotFound()
	}
	if err != nil {
		return whisk.Identity{}, internal(err)
	}
	id := identityOf(n)
	if c.cfg.AuthCacheTTL > 0 {
		c.owners.put(ns, id, now.Add(c.cfg.AuthCacheTTL))
	}
	return id, nil
}

// ownerCache remembers namespace identities for a short time: a web request
// then costs no store read for its owner.
type ownerCache struct {
	mu sync.RWMutex
	m  map[string]ownerEntry
}

type ownerEntry struct {
	id      whisk.Identity
	expires time.Time
}

func (o *ownerCache) get(ns string, now time.Time) (whisk.Identity, bool) {
	o.mu.RLock()
	e, ok := o.m[ns]
	o.mu.RUnlock()
	if !ok || now.After(e.expires) {
		return whisk.Identity{}, false
	}
	return e.id, true
}

func (o *ownerCache) put(ns string, id whisk.Identity, expires time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		o.m = map[string]ownerEntry{}
	}
	if len(o.m) > 10000 {
		// Names come from URLs anyone may send; keep the map bounded.
		clear(o.m)
	}
	o.m[ns] = ownerEntry{id: id, expires: expires}
}

// InvokeWeb runs a web action for a request (blocking, as the owner) with
// the arguments the request made. callerKey is the caller's key when the
// caller is the owner, so that the function may use it like any invocation
// by its owner; otherwise the function gets none.
func (c *Controller) InvokeWeb(ctx context.Context, w *WebAction, args []byte, tid, callerKey string) (InvokeResult, error) {
	return c.Invoke(ctx, w.Owner, InvokeRequest{
		Action:        w.FQN,
		Args:          args,
		Blocking:      true,
		TransactionID: tid,
		APIKey:        callerKey,
	})
}
