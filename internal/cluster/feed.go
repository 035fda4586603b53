package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gustfaas/gust/internal/bus"
	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// Activation streams (GET …/activations/stream) in a cluster: records are
// committed by whichever process ran the activation, and watched through
// whichever controller the load balancer picked. Every process with a record
// writer relays its committed records on the bus while some controller says
// in its heartbeat that it has watchers; a controller taking a new watcher
// heartbeats at once, so the relaying starts within a message's time. The
// relay is at most once, like the single-process feed, which drops the
// oldest records of a slow watcher: a watcher that must see everything
// reads the list API (a stream's replay does).

// relayed is one relayed record: the record, or where to read it when it is
// too large for the bus.
type relayed struct {
	Activation *whisk.Activation `json:"activation,omitempty"`
	Namespace  string            `json:"namespace,omitempty"`
	ID         string            `json:"id,omitempty"`
}

// Relay announces the records of a local record writer while anyone watches.
type Relay struct {
	cancel func()
	done   chan struct{}
}

// StartRelay relays what local announces (a Recorder's feed).
func StartRelay(b Bus, members *Members, local controller.RecordFeed, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.Default()
	}
	ch, cancel := local.Subscribe("")
	r := &Relay{cancel: cancel, done: make(chan struct{})}
	maxBytes := b.MaxPayload() - 1024
	go func() {
		defer close(r.done)
		for act := range ch {
			if !members.Watched() {
				continue
			}
			data, err := json.Marshal(relayed{Activation: act})
			if err != nil || len(data) > maxBytes {
				data, _ = json.Marshal(relayed{Namespace: act.Namespace, ID: act.ActivationID})
			}
			if err := b.Cast(subjectRecords, data); err != nil {
				log.Debug("relaying a record to watchers failed", "err", err)
			}
		}
	}()
	return r
}

// Stop ends the relay.
func (r *Relay) Stop() {
	r.cancel()
	<-r.done
}

// feedBuffer is how far a watcher may fall behind before it loses its
// oldest records, as in the single-process feed.
const feedBuffer = 256

// Feed is a controller's controller.RecordFeed in a cluster: the records
// relayed by every member.
type Feed struct {
	store    store.Store
	announce func() // heartbeat now: a new watcher
	log      *slog.Logger
	sub      bus.Subscription
	watchers atomic.Int64

	mu     sync.Mutex
	subs   map[*feedSub]struct{}
	closed bool
}

type feedSub struct {
	namespace string
	ch        chan *whisk.Activation
}

var _ controller.RecordFeed = (*Feed)(nil)

// StartFeed listens to relayed records; announce is called when the first
// watcher subscribes (Node.Beat, so that the relays start).
func StartFeed(b Bus, st store.Store, announce func(), log *slog.Logger) (*Feed, error) {
	if log == nil {
		log = slog.Default()
	}
	f := &Feed{store: st, announce: announce, log: log, subs: map[*feedSub]struct{}{}}
	sub, err := b.Listen(subjectRecords, func(data []byte) []byte {
		if f.watchers.Load() == 0 {
			return nil
		}
		var r relayed
		if err := json.Unmarshal(data, &r); err != nil {
			return nil
		}
		if r.Activation != nil {
			f.publish(r.Activation)
			return nil
		}
		if r.Namespace != "" && whisk.ValidActivationID(r.ID) {
			go f.fetch(r.Namespace, r.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	f.sub = sub
	return f, nil
}

func (f *Feed) fetch(namespace, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	act, err := f.store.GetActivation(ctx, namespace, id)
	if err != nil {
		f.log.Debug("reading a relayed record failed", "activation", id, "err", err)
		return
	}
	f.publish(act)
}

// Watchers is how many watchers this controller serves.
func (f *Feed) Watchers() int { return int(f.watchers.Load()) }

// Subscribe implements controller.RecordFeed.
func (f *Feed) Subscribe(namespace string) (<-chan *whisk.Activation, func()) {
	s := &feedSub{namespace: namespace, ch: make(chan *whisk.Activation, feedBuffer)}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	f.subs[s] = struct{}{}
	f.mu.Unlock()
	if f.watchers.Add(1) == 1 && f.announce != nil {
		f.announce()
	}
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			f.mu.Lock()
			if _, ok := f.subs[s]; ok {
				delete(f.subs, s)
				close(s.ch)
			}
			f.mu.Unlock()
			f.watchers.Add(-1)
		})
	}
}

func (f *Feed) publish(act *whisk.Activation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if s.namespace != "" && s.namespace != act.Namespace {
			continue
		}
		select {
		case s.ch <- act:
			continue
		default:
		}
		select {
		case <-s.ch: // drop the oldest
		default:
		}
		select {
		case s.ch <- act:
		default:
		}
	}
}

// Stop ends every subscription.
func (f *Feed) Stop() {
	f.sub.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for s := range f.subs {
		close(s.ch)
		delete(f.subs, s)
	}
}
