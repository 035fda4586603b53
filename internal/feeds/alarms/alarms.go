// Package alarms is Gust's alarm feed provider: the published
// /whisk.system/alarms package (spec §8) with its alarm (cron), once (date)
// and interval (minutes) feeds, and the scheduler that fires the triggers.
//
// It replaces OpenWhisk's alarms service (a separate Node.js provider with
// its own database and a web action in between) with code inside the
// server: the feed actions are built-in actions (controller.KindBuiltin)
// that keep each trigger's schedule in the store (store.Schedules), and the
// Provider fires due schedules through the controller, as the trigger's
// owner, without going over HTTP.
//
// # Keys
//
// The alarms service stored the API key it was given and fired with it.
// Gust stores only the namespace and resolves its owner when a schedule
// fires, so a rotated key keeps alarms working and no key sits in a table.
//
// # Catch-up and exactly one fire
//
// A schedule holds the time it is next due. When that time has passed —
// the server was down, or busy — the schedule fires once, and its next time
// is computed from the present: missed ticks are not replayed one by one.
//
// Every process that runs a Provider over the same store competes for due
// schedules with one atomic claim (ClaimDueSchedules: an UPDATE … SET
// owner, lease_until … WHERE next_fire <= now AND the lease is free …
// RETURNING). The winner fires the trigger and completes the schedule with
// its next time, releasing the lease, on the revision it claimed; an update
// or delete of the feed in the meantime makes that completion fail instead
// of undoing the change. A process that dies holding a lease leaves the
// schedule to be claimed again when the lease runs out, so a fire can be
// late or, if it died after firing and before completing, repeated — never
// lost. One process (gust serve) restarting under its old owner name takes
// its leases back at once.
package alarms

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// Config tunes the provider. Start from DefaultConfig: New fills in the
// zero values of the other fields, but takes Strict and IntervalDelay as
// given, false and 0 being meaningful.
type Config struct {
	// Owner names this process's claims; in a cluster every process needs
	// its own, and a process should keep it across restarts.
	Owner string
	// Lease is how long a claimed schedule stays this process's before
	// another may fire it (its holder presumed dead).
	Lease time.Duration
	// Poll bounds how long the provider sleeps without looking at the store,
	// which other processes may have changed. Changes made through this
	// provider wake it at once.
	Poll time.Duration
	// Batch is how many due schedules one claim takes, and Parallel how many
	// of them fire at once.
	Batch    int
	Parallel int
	// Strict is the operator's default for the alarm feed's strict
	// parameter: true fires 5-field alarms at second 0 of their minute,
	// false spreads them over the minute by the trigger's name.
	Strict bool
	// IntervalDelay is when an interval feed without a startDate first
	// fires (the alarms service: 30 s after it was created; 0 = at once).
	IntervalDelay time.Duration
}

// DefaultConfig returns the provider's defaults.
func DefaultConfig() Config {
	return Config{
		Owner: "gust", Lease: 30 * time.Second, Poll: time.Second,
		Batch: 64, Parallel: 8, Strict: true, IntervalDelay: 30 * time.Second,
	}
}

// Platform is what the provider needs of the controller (*controller.Controller).
type Platform interface {
	Authenticate(ctx context.Context, uuid, secret string) (whisk.Identity, error)
	NamespaceIdentity(ctx context.Context, ns string) (whisk.Identity, error)
	GetTrigger(ctx context.Context, id whisk.Identity, ns, name string) (*whisk.Trigger, error)
	DeleteTrigger(ctx context.Context, id whisk.Identity, ns, name string) (*whisk.Trigger, error)
	DeleteRule(ctx context.Context, id whisk.Identity, ns, name string) (*whisk.Rule, error)
	FireTrigger(ctx context.Context, id whisk.Identity, ns, name string, req controller.FireRequest) (string, error)
}

var _ Platform = (*controller.Controller)(nil)

// Deps are the provider's collaborators.
type Deps struct {
	Store    store.Schedules
	Platform Platform
	Logger   *slog.Logger // defaults to slog.Default()
	// Now is the provider's clock; defaults to time.Now.
	Now func() time.Time
	// Ticks, when set, replaces the provider's own timer: every value
	// received makes it fire what is due by Now. Tests drive a fake clock
	// with it; Tick does the same synchronously.
	Ticks <-chan time.Time
}

// Provider runs the alarm feeds: their lifecycle (Feed) and their firing.
type Provider struct {
	cfg Config
	st  store.Schedules
	pf  Platform
	log *slog.Logger
	now func() time.Time

	ticks   <-chan time.Time
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	started atomic.Bool

	tickMu sync.Mutex // one Tick at a time: the loop's and a test's
}

// New returns a provider; Start begins firing.
func New(cfg Config, deps Deps) (*Provider, error) {
	if deps.Store == nil || deps.Platform == nil {
		return nil, errors.New("alarms: Store and Platform are required")
	}
	d := DefaultConfig()
	if cfg.Owner == "" {
		cfg.Owner = d.Owner
	}
	if cfg.Lease <= 0 {
		cfg.Lease = d.Lease
	}
	if cfg.Poll <= 0 {
		cfg.Poll = d.Poll
	}
	if cfg.Batch <= 0 {
		cfg.Batch = d.Batch
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = d.Parallel
	}
	if cfg.IntervalDelay < 0 {
		cfg.IntervalDelay = d.IntervalDelay
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Provider{
		cfg: cfg, st: deps.Store, pf: deps.Platform, log: deps.Logger, now: deps.Now, ticks: deps.Ticks,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// Start takes back this owner's leases (left by a previous run), fires at
// once what fell due while the server was down, then fires in the
// background until Stop.
func (p *Provider) Start(ctx context.Context) error {
	if _, err := p.st.ReleaseSchedules(ctx, p.cfg.Owner); err != nil {
		return err
	}
	if _, err := p.Tick(ctx); err != nil {
		p.log.Error("alarms: catching up on due schedules failed", "err", err)
	}
	p.started.Store(true)
	go p.loop()
	return nil
}

// Stop stops firing and waits for a fire in progress.
func (p *Provider) Stop() {
	p.once.Do(func() { close(p.stop) })
	if p.started.Load() {
		<-p.done
	}
	// A Tick called directly (tests) finishes before Stop returns.
	p.tickMu.Lock()
	defer p.tickMu.Unlock()
}

func (p *Provider) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Provider) loop() {
	defer close(p.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		var tick <-chan time.Time
		if p.ticks != nil {
			tick = p.ticks
		} else {
			timer.Reset(p.sleep(ctx))
			tick = timer.C
		}
		select {
		case <-p.stop:
			return
		case <-tick:
		case <-p.wake:
			if p.ticks != nil {
				continue // driven from outside: wait for a tick
			}
		}
		if _, err := p.Tick(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("alarms: firing due schedules failed", "err", err)
		}
	}
}

// sleep is how long the loop may wait: until the earliest due schedule,
// and no longer than Poll.
func (p *Provider) sleep(ctx context.Context) time.Duration {
	wait := p.cfg.Poll
	next, ok, err := p.st.NextScheduleDue(ctx)
	if err != nil || !ok {
		return wait
	}
	until := time.UnixMilli(next).Sub(p.now())
	if until < wait {
		wait = max(until, 0)
	}
	return wait
}

// Tick fires every schedule due by the provider's clock and returns how
// many it fired (claimed and handled; a fire the controller refused counts).
func (p *Provider) Tick(ctx context.Context) (int, error) {
	p.tickMu.Lock()
	defer p.tickMu.Unlock()
	now := p.now()
	fired := 0
	for {
		batch, err := p.st.ClaimDueSchedules(ctx, p.cfg.Owner, now, p.cfg.Lease, p.cfg.Batch)
		if err != nil {
			return fired, err
		}
		sem := make(chan struct{}, p.cfg.Parallel)
		var wg sync.WaitGroup
		for _, sc := range batch {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				p.fire(ctx, sc, now)
			}()
		}
		wg.Wait()
		fired += len(batch)
		if len(batch) < p.cfg.Batch {
			return fired, nil
		}
	}
}

// fire fires one claimed schedule and completes it with its next time.
func (p *Provider) fire(ctx context.Context, sc store.Schedule, now time.Time) {
	log := p.log.With("namespace", sc.Namespace, "trigger", sc.Trigger)
	var cfg config
	var st status
	if err := json.Unmarshal(sc.Config, &cfg); err != nil {
		log.Error("alarms: unreadable schedule removed", "err", err)
		_ = p.st.DeleteSchedule(ctx, sc.Namespace, sc.Trigger)
		return
	}
	_ = json.Unmarshal(sc.Status, &st)
	id, err := p.pf.NamespaceIdentity(ctx, sc.Namespace)
	if whisk.CodeOf(err) == whisk.CodeNotFound {
		log.Info("alarms: the namespace is gone; schedule removed")
		_ = p.st.DeleteSchedule(ctx, sc.Namespace, sc.Trigger)
		return
	}
	if err != nil {
		// The lease runs out and the schedule is claimed again: late, not lost.
		log.Error("alarms: cannot resolve the trigger's owner; will retry", "err", err)
		return
	}
	due := time.UnixMilli(sc.NextFire)
	t := cfg.times()
	if t.stop.IsZero() || due.Before(t.stop) || due.Equal(t.stop) {
		_, err = p.pf.FireTrigger(ctx, id, sc.Namespace, sc.Trigger, controller.FireRequest{
			Payload: cfg.Payload, TransactionID: "alarm-" + whisk.NewActivationID()[16:],
		})
	}
	if disable := disableFor(err); disable != nil {
		log.Warn("alarms: trigger refused the fire; schedule disabled", "err", err)
		p.complete(ctx, log, sc, 0, p.inactive(now, disable))
		return
	}
	if err != nil {
		log.Error("alarms: firing the trigger failed; the tick is skipped", "err", err)
	}

	if cfg.Kind == kindOnce {
		p.afterOnce(ctx, log, sc, cfg, id, now)
		return
	}
	next, ok := cfg.next(now)
	if !ok {
		msg := "Automatically disabled after firing last scheduled cron trigger"
		if cfg.Kind == kindInterval {
			msg = "Automatically disabled after firing last scheduled interval trigger"
		}
		p.complete(ctx, log, sc, 0, p.inactive(now, &reason{Kind: "AUTO", Message: msg}))
		return
	}
	p.complete(ctx, log, sc, next.UnixMilli(), st)
}

// afterOnce ends a once feed as its deleteAfterFire says: disabled, or
// gone with its trigger (and the trigger's rules).
func (p *Provider) afterOnce(ctx context.Context, log *slog.Logger, sc store.Schedule, cfg config, id whisk.Identity, now time.Time) {
	switch cfg.DeleteAfterFire {
	case deleteTrigger, deleteRules:
		if err := p.st.DeleteSchedule(ctx, sc.Namespace, sc.Trigger); err != nil && whisk.CodeOf(err) != whisk.CodeNotFound {
			log.Error("alarms: removing a fired once schedule failed", "err", err)
		}
		if cfg.DeleteAfterFire == deleteRules {
			if t, err := p.pf.GetTrigger(ctx, id, sc.Namespace, sc.Trigger); err == nil {
				for key := range t.Rules {
					ns, name := whisk.SplitPath(key)
					if _, err := p.pf.DeleteRule(ctx, id, ns, name); err != nil && whisk.CodeOf(err) != whisk.CodeNotFound {
						log.Error("alarms: deleting a rule after firing once failed", "rule", key, "err", err)
					}
				}
			}
		}
		if _, err := p.pf.DeleteTrigger(ctx, id, sc.Namespace, sc.Trigger); err != nil && whisk.CodeOf(err) != whisk.CodeNotFound {
			log.Error("alarms: deleting the trigger after firing once failed", "err", err)
		}
	default:
		p.complete(ctx, log, sc, 0, p.inactive(now, &reason{Kind: "AUTO", Message: "Automatically disabled after firing once"}))
	}
}

// disableFor is why a schedule stops after the controller refused its fire:
// a client error other than a timeout, a conflict or a throttle means the
// trigger will not take fires (the alarms service's rule).
func disableFor(err error) *reason {
	if err == nil {
		return nil
	}
	code := httpStatus(whisk.CodeOf(err))
	if code < 400 || code >= 500 || code == 408 || code == 409 || code == 429 {
		return nil
	}
	return &reason{Kind: "AUTO", StatusCode: code,
		Message: "Trigger automatically disabled: Received a " + strconv.Itoa(code) + " status code when firing the trigger"}
}

func httpStatus(c whisk.Code) int {
	switch c {
	case whisk.CodeBadRequest:
		return 400
	case whisk.CodeUnauthorized:
		return 401
	case whisk.CodeForbidden:
		return 403
	case whisk.CodeNotFound:
		return 404
	case whisk.CodeNotAllowed:
		return 405
	case whisk.CodeConflict:
		return 409
	case whisk.CodeTooLarge:
		return 413
	case whisk.CodeTooManyRequests:
		return 429
	case whisk.CodeUnavailable:
		return 503
	}
	return 500
}

func (p *Provider) inactive(now time.Time, r *reason) status {
	return status{Active: false, DateChanged: now.UnixMilli(), Reason: r}
}

// complete stores a fired schedule's next state; a feed update or delete
// that came in meanwhile wins.
func (p *Provider) complete(ctx context.Context, log *slog.Logger, sc store.Schedule, next int64, st status) {
	sc.NextFire = next
	sc.Status, _ = json.Marshal(st)
	sc.Updated = p.now().UnixMilli()
	err := p.st.CompleteSchedule(ctx, p.cfg.Owner, sc)
	switch whisk.CodeOf(err) {
	case whisk.CodeConflict, whisk.CodeNotFound:
		log.Info("alarms: the feed changed while it fired; its new state stands")
	default:
		if err != nil {
			log.Error("alarms: recording a fire failed; the schedule fires again when its lease ends", "err", err)
		}
	}
}

// TriggerDeleted stops the schedule of a deleted trigger; register it with
// the controller's OnTriggerDeleted.
func (p *Provider) TriggerDeleted(ctx context.Context, namespace, name string) {
	err := p.st.DeleteSchedule(ctx, namespace, name)
	if err != nil && whisk.CodeOf(err) != whisk.CodeNotFound {
		p.log.Error("alarms: removing the schedule of a deleted trigger failed", "namespace", namespace, "trigger", name, "err", err)
	}
}
