package invoker

import (
	"context"
	"sync"

	"github.com/gustfaas/gust/internal/whisk"
)

// actionCache keeps the action documents the consumer loaded, by name, so
// that accepted work does not read (and decode: a native action carries its
// executable) its action from the store every time. An entry is used only
// for a message that names the same version — revision and update time, set
// by whoever accepted the work — so an update is never run in its old
// version, and a message that names none always reads the store.
type actionCache struct {
	mu      sync.Mutex
	entries map[string]cachedAction
}

type cachedAction struct {
	rev     int64
	updated int64
	action  *whisk.Action
}

// maxCachedActions bounds the cache; entries are small but for the code
// they hold, and a busy invoker runs a working set of actions.
const maxCachedActions = 512

// load returns the action msg names, from the cache when it holds that
// version, else from the store (and keeps it). A missing action is
// whisk.ErrNotFound.
func (c *Consumer) load(ctx context.Context, msg *whisk.ActivationMessage) (*whisk.Action, int64, error) {
	key := msg.ActionFQN.String()
	ac := &c.actions
	if msg.ActionUpdated != 0 {
		ac.mu.Lock()
		e, ok := ac.entries[key]
		ac.mu.Unlock()
		if ok && e.rev == msg.ActionRev && e.updated == msg.ActionUpdated {
			return e.action, e.rev, nil
		}
	}
	action, rev, err := loadAction(ctx, c.store, msg.ActionFQN)
	if err != nil {
		return nil, 0, err
	}
	ac.mu.Lock()
	if ac.entries == nil || len(ac.entries) >= maxCachedActions {
		ac.entries = make(map[string]cachedAction) // start over: cheap, and rare
	}
	ac.entries[key] = cachedAction{rev: rev, updated: action.Updated, action: action}
	ac.mu.Unlock()
	return action, rev, nil
}
