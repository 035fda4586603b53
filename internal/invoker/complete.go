package invoker

import (
	"sync"

	"github.com/gustfaas/gust/internal/bus"
	"github.com/gustfaas/gust/internal/whisk"
)

// SetCompleted makes the consumer call f with every record of a message that
// has a ReplyTo, once the record is durable: in cluster mode the controller
// that accepted the work waits for it on another machine, and may read the
// record from the store as soon as it is told. f must not block for long;
// it runs on the record writer's goroutine or the delivery's. Call it before
// Start.
func (c *Consumer) SetCompleted(f func(msg *whisk.ActivationMessage, act *whisk.Activation)) {
	c.completed = f
}

func (c *Consumer) complete(msg *whisk.ActivationMessage, act *whisk.Activation) {
	if c.completed != nil && msg.ReplyTo != "" && act != nil {
		c.completed(msg, act)
	}
}

// onRecorded arms msg.OnRecorded to tell whoever waits and then acknowledge
// d, once the record is durable, and returns the function that hands it the
// record when the invoker returns it. The record writer may commit before or
// after the invoker's channel delivers the record; whichever of the two
// comes second completes, so the record is announced once and only after it
// is durable (P3: run, commit, then ack).
func (c *Consumer) onRecorded(msg *whisk.ActivationMessage, d bus.Delivery) func(*whisk.Activation) {
	var (
		mu       sync.Mutex
		act      *whisk.Activation
		recorded bool
	)
	msg.OnRecorded = func() {
		mu.Lock()
		recorded = true
		a := act
		mu.Unlock()
		if a != nil {
			c.complete(msg, a)
		}
		_ = d.Ack()
	}
	return func(a *whisk.Activation) {
		mu.Lock()
		act = a
		r := recorded
		mu.Unlock()
		if r {
			c.complete(msg, a)
		}
	}
}
