package invoker

import "github.com/gustfaas/gust/internal/whisk"

// Composer runs accepted work whose action is a composition (a sequence or
// a conductor action): the controller orchestrates those, component by
// component, where an invoker runs one function. Compositions share the
// durable queue of accepted work, so that an accepted one survives a crash
// like any other invocation.
type Composer interface {
	// Composes reports whether a is a composition.
	Composes(a *whisk.Action) bool
	// ComposeAccepted runs msg and calls done(true) once its record is
	// durable, or done(false) when it must be delivered again.
	ComposeAccepted(msg *whisk.ActivationMessage, done func(recorded bool))
}

// SetComposer makes the consumer hand compositions to comp. Call it before
// Start.
func (c *Consumer) SetComposer(comp Composer) { c.composer = comp }

// compose runs msg through the composer when its action is a composition
// and reports whether it did.
func (c *Consumer) compose(msg *whisk.ActivationMessage, ack, nak func()) bool {
	if c.composer == nil || !c.composer.Composes(msg.Action) {
		return false
	}
	c.composer.ComposeAccepted(msg, func(recorded bool) {
		if recorded {
			ack()
		} else {
			nak()
		}
	})
	return true
}
