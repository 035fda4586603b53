// Package inproc is the single-process bus: a durable queue in the store
// (SQLite, committed with synchronous=FULL before Publish returns) and
// in-memory wake-ups so that a published message is picked up at once.
package inproc

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gustfaas/gust/internal/bus"
	"github.com/gustfaas/gust/internal/store"
)

// Config tunes the bus.
type Config struct {
	// Owner names this process's leases. A process that restarts with the
	// same owner takes back what it held when it died at once, rather than
	// after the lease.
	Owner string
	Lease time.Duration // how long a delivery is held before redelivery
	Renew time.Duration // how often held leases are extended
	Poll  time.Duration // how often the queue is polled for expired leases and delayed items
}

// DefaultConfig follows RELIABILITY.md: 30 s leases renewed every 10 s.
func DefaultConfig() Config {
	return Config{Owner: "gust", Lease: 30 * time.Second, Renew: 10 * time.Second, Poll: time.Second}
}

// Bus is the in-process bus.
type Bus struct {
	cfg   Config
	queue store.Queue
	log   *slog.Logger

	mu      sync.Mutex
	subject string
	wake    chan struct{}
	closed  bool
}

// New returns a bus over q.
func New(cfg Config, q store.Queue, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	d := DefaultConfig()
	if cfg.Lease <= 0 {
		cfg.Lease = d.Lease
	}
	if cfg.Renew <= 0 {
		cfg.Renew = d.Renew
	}
	if cfg.Poll <= 0 {
		cfg.Poll = d.Poll
	}
	if cfg.Owner == "" {
		cfg.Owner = d.Owner
	}
	return &Bus{cfg: cfg, queue: q, log: log, wake: make(chan struct{}, 1)}
}

// errOneSubject: the queue table has no subject column; one process has one
// kind of durable work.
var errOneSubject = errors.New("inproc bus: carries a single subject")

func (b *Bus) checkSubject(subject string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("inproc bus: closed")
	}
	if b.subject == "" {
		b.subject = subject
	}
	if b.subject != subject {
		return errOneSubject
	}
	return nil
}

// Publish implements bus.Bus.
func (b *Bus) Publish(ctx context.Context, subject, id string, data []byte) error {
	if err := b.checkSubject(subject); err != nil {
		return err
	}
	if err := b.queue.Enqueue(ctx, id, data); err != nil {
		return err
	}
	b.notify()
	return nil
}

func (b *Bus) notify() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Ping implements bus.Bus.
func (b *Bus) Ping(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("inproc bus: closed")
	}
	return nil
}

// Close implements bus.Bus; it does not stop consumers (Stop them first).
func (b *Bus) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// Consume implements bus.Bus.
func (b *Bus) Consume(ctx context.Context, subject string, max int, handler func(bus.Delivery)) (bus.Subscription, error) {
	if err := b.checkSubject(subject); err != nil {
		return nil, err
	}
	if max <= 0 {
		max = 1
	}
	if n, err := b.queue.Recover(ctx, b.cfg.Owner); err != nil {
		return nil, err
	} else if n > 0 {
		b.log.Info("taking back work accepted before a restart", "items", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscription{bus: b, max: max, handler: handler, cancel: cancel,
		held: make(map[string]struct{}), slots: make(chan struct{}, max), ackCh: make(chan struct{}, 1)}
	s.wg.Add(3)
	go s.claimLoop(ctx)
	go s.renewLoop(ctx)
	go s.ackLoop(ctx)
	return s, nil
}

type subscription struct {
	bus     *Bus
	max     int
	handler func(bus.Delivery)
	cancel  context.CancelFunc
	slots   chan struct{}
	wg      sync.WaitGroup // loops
	work    sync.WaitGroup // handlers

	mu    sync.Mutex
	held  map[string]struct{}
	acks  []string // acknowledged, not yet deleted from the queue
	ackCh chan struct{}
}

func (s *subscription) Stop() {
	s.cancel()
	s.work.Wait()
	s.wg.Wait()
	s.flushAcks()
}

// ackLoop deletes acknowledged items in batches: one commit for many
// activations. An ack lost in a crash only causes a redelivery, which the
// consumer recognises by the record that already exists.
func (s *subscription) ackLoop(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.ackCh:
		}
		s.flushAcks()
	}
}

func (s *subscription) flushAcks() {
	s.mu.Lock()
	ids := s.acks
	s.acks = nil
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.bus.queue.Ack(ctx, ids); err != nil {
		s.bus.log.Error("acknowledging accepted work failed; it will be redelivered", "items", len(ids), "err", err)
	}
}

func (s *subscription) claimLoop(ctx context.Context) {
	defer s.wg.Done()
	b := s.bus
	poll := time.NewTicker(b.cfg.Poll)
	defer poll.Stop()
	for {
		free := s.max - len(s.slots)
		if free > 0 {
			items, err := b.queue.Claim(ctx, b.cfg.Owner, free, b.cfg.Lease)
			if err != nil && ctx.Err() == nil {
				b.log.Error("claiming accepted work failed", "err", err)
			}
			for _, it := range items {
				s.slots <- struct{}{}
				s.mu.Lock()
				s.held[it.ID] = struct{}{}
				s.mu.Unlock()
				d := &delivery{sub: s, item: it}
				s.work.Add(1)
				go func() {
					defer s.work.Done()
					s.handler(d)
				}()
			}
			if len(items) == free {
				continue // there may be more
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		case <-poll.C:
		}
	}
}

func (s *subscription) renewLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.bus.cfg.Renew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		ids := make([]string, 0, len(s.held))
		for id := range s.held {
			ids = append(ids, id)
		}
		s.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		if err := s.bus.queue.Renew(ctx, s.bus.cfg.Owner, ids, s.bus.cfg.Lease); err != nil && ctx.Err() == nil {
			s.bus.log.Error("renewing leases failed", "err", err)
		}
	}
}

// settle forgets a delivery and frees its slot.
func (s *subscription) settle(id string) {
	s.mu.Lock()
	_, held := s.held[id]
	delete(s.held, id)
	s.mu.Unlock()
	if held {
		<-s.slots
		s.bus.notify()
	}
}

type delivery struct {
	sub  *subscription
	item store.QueueItem
	once sync.Once
}

func (d *delivery) ID() string   { return d.item.ID }
func (d *delivery) Data() []byte { return d.item.Body }
func (d *delivery) Attempt() int { return d.item.Attempts }

// Ack queues the deletion and returns; see ackLoop.
func (d *delivery) Ack() error {
	d.once.Do(func() {
		s := d.sub
		s.mu.Lock()
		s.acks = append(s.acks, d.item.ID)
		s.mu.Unlock()
		select {
		case s.ackCh <- struct{}{}:
		default:
		}
		s.settle(d.item.ID)
	})
	return nil
}

func (d *delivery) Nak(delay time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	d.once.Do(func() {
		err = d.sub.bus.queue.Release(ctx, []string{d.item.ID}, delay)
		d.sub.settle(d.item.ID)
	})
	return err
}
