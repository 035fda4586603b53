package controller

import (
	"context"

	"github.com/gustfaas/gust/internal/whisk"
)

// Invoker runs activations. In the single-process shape it is *invoker.Invoker;
// in cluster mode a bus-backed client implements it.
type Invoker interface {
	// Start admits msg (it may wait in the invoker's queue for memory) and
	// returns at once. The channel receives the complete activation record
	// once, after the record was handed to the record writer. Start fails only
	// when the platform cannot take the work (shutting down, no invoker):
	// a *whisk.Error with CodeUnavailable.
	Start(msg *whisk.ActivationMessage) (<-chan *whisk.Activation, error)
}

// Acceptor makes non-blocking work durable. Accept returns only once msg
// survives a crash of the process; it will then be run at least once and
// recorded exactly once, by whoever consumes the queue.
type Acceptor interface {
	Accept(ctx context.Context, msg *whisk.ActivationMessage) error
}

// Recorder stores activation records that no invoker writes: sequences,
// triggers, and errors found before a function ran. It batches; Record does
// not wait for the write.
type Recorder interface {
	Record(act *whisk.Activation)
}

// RecordLookup finds records still waiting in the record writer's batch, so
// that a record is readable the moment its blocking invoke returned.
type RecordLookup interface {
	Pending(namespace, id string) (*whisk.Activation, bool)
	// Flush waits until the records handed over so far are stored, so that
	// lists read what the caller's own invocations wrote.
	Flush(ctx context.Context) error
}

// RecordFeed announces activation records once they are stored, for watchers
// (GET …/activations/stream). In the single-process shape it is the invoker's
// Recorder; in cluster mode a bus subscription feeds it. Subscribe returns a
// channel of the records of namespace ("" = all), closed by cancel and when
// the feed ends; a slow reader loses its oldest records rather than slowing
// the writer. Records are shared and must not be modified.
type RecordFeed interface {
	Subscribe(namespace string) (records <-chan *whisk.Activation, cancel func())
}
