package controller

import (
	"context"
	"errors"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// ActivationQuery selects activations of one namespace (spec §4.2).
type ActivationQuery struct {
	Name  string // "action" or "pkg/action"; empty = all
	Since int64  // epoch ms, inclusive; 0 = unbounded
	Upto  int64  // epoch ms, inclusive; 0 = unbounded
	Page  Page
}

func (q ActivationQuery) store(ns string) store.ActivationQuery {
	return store.ActivationQuery{Namespace: ns, Name: q.Name, Since: q.Since, Upto: q.Upto, Skip: q.Page.Skip, Limit: q.Page.Limit}
}

// ListActivations lists the activations of namespace ns, newest first,
// including every record handed to the record writer before the call.
func (c *Controller) ListActivations(ctx context.Context, id whisk.Identity, ns string, q ActivationQuery) ([]*whisk.Activation, error) {
	if err := entitled(id, ns, ns); err != nil {
		return nil, err
	}
	if err := c.flushRecords(ctx); err != nil {
		return nil, err
	}
	acts, err := c.store.ListActivations(ctx, q.store(ns))
	return acts, internal(err)
}

// CountActivations counts what ListActivations would list from q.Page.Skip on.
func (c *Controller) CountActivations(ctx context.Context, id whisk.Identity, ns string, q ActivationQuery) (int, error) {
	if err := entitled(id, ns, ns); err != nil {
		return 0, err
	}
	if err := c.flushRecords(ctx); err != nil {
		return 0, err
	}
	sq := q.store(ns)
	sq.Skip, sq.Limit = 0, 0
	n, err := c.store.CountActivations(ctx, sq)
	if err != nil {
		return 0, internal(err)
	}
	return max(0, n-q.Page.Skip), nil
}

// GetActivation returns one activation of namespace ns. A record is readable
// the moment its blocking invocation returned, before its batch is written.
func (c *Controller) GetActivation(ctx context.Context, id whisk.Identity, ns, activationID string) (*whisk.Activation, error) {
	if err := entitled(id, ns, ns+"/"+activationID); err != nil {
		return nil, err
	}
	if c.records != nil {
		if act, ok := c.records.Pending(ns, activationID); ok {
			return act, nil
		}
	}
	act, err := c.store.GetActivation(ctx, ns, activationID)
	if errors.Is(err, whisk.ErrNotFound) {
		return nil, whisk.NotFound()
	}
	return act, internal(err)
}

// flushRecords gives lists read-your-writes: a record is in the writer's
// batch for a few milliseconds after its activation returned.
func (c *Controller) flushRecords(ctx context.Context) error {
	if c.records == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.records.Flush(ctx); err != nil {
		return &whisk.Error{Code: whisk.CodeUnavailable, Message: "Activation records are not yet stored; try again.", Err: err}
	}
	return nil
}
