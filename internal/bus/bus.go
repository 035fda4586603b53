// Package bus is the seam for moving accepted work between the process that
// accepts it and the one that runs it.
//
// Contract (checked by bus/bustest):
//   - Publish returns nil only once the message is durable: it survives a
//     crash of every Gust process. Publishing an id again while the first
//     message is still queued is a no-op (deduplication by id).
//   - Consume delivers every message at least once to one consumer of the
//     subject. A delivery that is neither acknowledged nor negatively
//     acknowledged is redelivered after its lease expires; leases of
//     deliveries still being worked on are renewed by the bus while the
//     consumer lives.
//   - Delivery.Attempt counts deliveries, this one included, so that a
//     consumer can give up on poison messages.
//   - Handlers run concurrently, at most max at a time.
package bus

import (
	"context"
	"time"
)

// Bus moves durable work.
type Bus interface {
	Publish(ctx context.Context, subject, id string, data []byte) error
	Consume(ctx context.Context, subject string, max int, handler func(Delivery)) (Subscription, error)
	// Ping reports whether the bus can accept work (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// Delivery is one delivered message.
type Delivery interface {
	ID() string
	Data() []byte
	Attempt() int
	// Ack removes the message for good.
	Ack() error
	// Nak hands the message back for redelivery after delay.
	Nak(delay time.Duration) error
}

// Subscription stops a consumer.
type Subscription interface {
	// Stop ends deliveries and waits for running handlers.
	Stop()
}
