package cluster

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// AdopterConfig tunes an Adopter.
type AdopterConfig struct {
	// Self is this invoker's id.
	Self string
	// Every is how often the queues are looked at.
	Every time.Duration
	// Grace is how long after its start an invoker waits before adopting:
	// until then its table may not know every live invoker yet.
	Grace time.Duration
	// Linger is how long an adopted queue that is empty is still consumed:
	// a controller may still be retrying a publish to it (natsbus retries
	// for 30 s), and the invoker may come back. After that the adopter lets
	// go of it and deletes its consumer.
	Linger time.Duration
	Log    *slog.Logger
}

// DefaultAdopterConfig returns the defaults.
func DefaultAdopterConfig(self string) AdopterConfig {
	return AdopterConfig{Self: self, Every: 2 * time.Second, Grace: 3 * time.Second, Linger: 2 * time.Minute}
}

// Adopter moves the work of invokers that are gone to this one. Every
// invoker runs one; the healthy invoker with the smallest id (as each sees
// the table) acts: it consumes, besides its own, the queue of every invoker
// that holds work in the stream and is not healthy — offline (silent for
// 10 s), stopping, or never seen since this one started — through the same
// durable consumer, so that each message still goes to one puller, and the
// record check of the consumer (P3) makes a redelivery harmless. It lets go
// when the owner is healthy again, when another invoker takes over, or once
// the queue has been empty for Linger. The stream, not the table, says which
// queues hold work: an invoker that died before any of the present ones
// started is adopted too.
type Adopter struct {
	cfg     AdopterConfig
	bus     Bus
	members *Members
	consume func(subject string) (stop func(), err error)
	log     *slog.Logger
	started time.Time

	mu      sync.Mutex
	adopted map[string]*adoption // subject → adoption
}

type adoption struct {
	stop       func()
	emptySince time.Time
}

// NewAdopter returns an adopter; consume starts consuming a subject with
// this invoker's slots and returns how to stop.
func NewAdopter(cfg AdopterConfig, b Bus, members *Members, consume func(subject string) (func(), error)) *Adopter {
	d := DefaultAdopterConfig(cfg.Self)
	if cfg.Every <= 0 {
		cfg.Every = d.Every
	}
	if cfg.Grace <= 0 {
		cfg.Grace = d.Grace
	}
	if cfg.Linger <= 0 {
		cfg.Linger = d.Linger
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Adopter{cfg: cfg, bus: b, members: members, consume: consume, started: time.Now(),
		log: cfg.Log.With("component", "cluster-adopter"), adopted: map[string]*adoption{}}
}

// Run adopts until ctx ends, then lets go of everything (waiting for the
// deliveries in hand).
func (a *Adopter) Run(ctx context.Context) {
	t := time.NewTicker(a.cfg.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.releaseAll(true)
			return
		case <-t.C:
		}
		a.Check(ctx)
	}
}

// Adopted lists the subjects this invoker adopted.
func (a *Adopter) Adopted() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.adopted))
	for s := range a.adopted {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// leader reports whether this invoker is the healthy one with the smallest
// id.
func (a *Adopter) leader() bool {
	for _, m := range a.members.List(RoleInvoker) { // sorted by id
		if m.State == StateHealthy {
			return m.ID == a.cfg.Self
		}
	}
	return false
}

// Check looks at the queues once.
func (a *Adopter) Check(ctx context.Context) {
	if time.Since(a.started) < a.cfg.Grace {
		return
	}
	if !a.leader() {
		a.releaseAll(false)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	counts, err := a.bus.SubjectCounts(cctx, strings.TrimSuffix(invokePrefix, "."))
	cancel()
	if err != nil {
		a.log.Debug("cannot list the queues", "err", err)
		return
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for subj, n := range counts {
		id := strings.TrimPrefix(subj, invokePrefix)
		if n == 0 || id == a.cfg.Self || a.adopted[subj] != nil || a.members.Healthy(RoleInvoker, id) {
			continue
		}
		stop, err := a.consume(subj)
		if err != nil {
			a.log.Error("cannot adopt the queue of an invoker that is not healthy", "invoker", id, "err", err)
			continue
		}
		a.log.Warn("adopted the queue of an invoker that is not healthy", "invoker", id, "messages", n)
		a.adopted[subj] = &adoption{stop: stop}
	}
	for subj, ad := range a.adopted {
		id := strings.TrimPrefix(subj, invokePrefix)
		switch {
		case a.members.Healthy(RoleInvoker, id):
			a.log.Info("invoker is back; its queue is its own again", "invoker", id)
		case counts[subj] > 0:
			ad.emptySince = time.Time{}
			continue
		case ad.emptySince.IsZero():
			ad.emptySince = now
			continue
		case now.Sub(ad.emptySince) < a.cfg.Linger:
			continue
		default:
			a.log.Info("the queue of an invoker that is gone stayed empty; letting it go", "invoker", id)
			delete(a.adopted, subj)
			go func() {
				ad.stop() // first: a pull in flight would put the consumer back
				dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := a.bus.DeleteConsumer(dctx, subj); err != nil {
					a.log.Warn("deleting the consumer of a gone invoker failed", "invoker", id, "err", err)
				}
			}()
			continue
		}
		delete(a.adopted, subj)
		go ad.stop()
	}
}

func (a *Adopter) releaseAll(wait bool) {
	a.mu.Lock()
	var stops []func()
	for subj, ad := range a.adopted {
		stops = append(stops, ad.stop)
		delete(a.adopted, subj)
	}
	a.mu.Unlock()
	var wg sync.WaitGroup
	for _, stop := range stops {
		wg.Add(1)
		go func() { defer wg.Done(); stop() }()
	}
	if wait {
		wg.Wait()
	}
}
