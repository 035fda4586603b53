package invoker

import (
	"context"
	"errors"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// untilStored runs f until the store answers it — nil, or not found — and
// reports true, or until the consumer stops, and reports false. Failures are
// retried with a growing pause, logged the first time and then every
// half-minute.
func (c *Consumer) untilStored(what, activation string, f func(ctx context.Context) error) bool {
	pause := 100 * time.Millisecond
	var logged time.Time
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := f(ctx)
		cancel()
		if err == nil || errors.Is(err, whisk.ErrNotFound) {
			if !logged.IsZero() {
				c.log.Info("the store answers again", "activation", activation)
			}
			return true
		}
		if time.Since(logged) > 30*time.Second {
			c.log.Warn(what+" failed; holding the work until the store answers", "activation", activation, "err", err)
			logged = time.Now()
		}
		select {
		case <-c.stopping:
			return false
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}
