package invoker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// RecorderConfig tunes the activation record writer.
type RecorderConfig struct {
	BatchSize int           // records per transaction at most
	Linger    time.Duration // how long a lone record waits for company
}

// DefaultRecorderConfig suits SQLite with synchronous=FULL: one fsync per
// batch instead of one per activation.
func DefaultRecorderConfig() RecorderConfig {
	return RecorderConfig{BatchSize: 256, Linger: 2 * time.Millisecond}
}

type pendingRecord struct {
	act  *whisk.Activation
	done func()
}

// Recorder writes activation records in batches, off the invoke path. A record
// handed to it is readable at once through Pending and durable shortly after;
// its done callback runs after the commit. Writes that fail are retried until
// Close: a record is never dropped while the process lives.
type Recorder struct {
	cfg   RecorderConfig
	store store.Store
	log   *slog.Logger

	mu      sync.Mutex
	queue   []pendingRecord
	pending map[string]*whisk.Activation // activation id → record not yet committed
	wake    chan struct{}
	closed  bool
	done    chan struct{}

	// queued and committed count records; committedCh is closed and replaced
	// at every commit, so that Flush can wait for the records before it.
	queued, committed uint64
	committedCh       chan struct{}

	subMu      sync.Mutex // guards subs; see feed.go
	subs       map[*subscriber]struct{}
	subsClosed bool
}

// NewRecorder starts a writer over st.
func NewRecorder(cfg RecorderConfig, st store.Store, log *slog.Logger) *Recorder {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultRecorderConfig().BatchSize
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Recorder{
		cfg: cfg, store: st, log: log,
		pending:     make(map[string]*whisk.Activation),
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		committedCh: make(chan struct{}),
	}
	go r.loop()
	return r
}

// Record queues act for writing.
func (r *Recorder) Record(act *whisk.Activation) { r.RecordThen(act, nil) }

// RecordThen queues act and calls done once it is committed.
func (r *Recorder) RecordThen(act *whisk.Activation, done func()) {
	r.mu.Lock()
	r.queue = append(r.queue, pendingRecord{act, done})
	r.pending[act.ActivationID] = act
	r.queued++
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Pending returns a record that is queued but not yet committed.
func (r *Recorder) Pending(namespace, id string) (*whisk.Activation, bool) {
	r.mu.Lock()
	act, ok := r.pending[id]
	r.mu.Unlock()
	if !ok || act.Namespace != namespace {
		return nil, false
	}
	return act, true
}

// Flush waits until every record handed over before the call is committed,
// so that a list query after a blocking invoke sees its record.
func (r *Recorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	target := r.queued
	for r.committed < target {
		ch := r.committedCh
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.mu.Lock()
	}
	r.mu.Unlock()
	return nil
}

// Close writes what is queued and stops the writer.
func (r *Recorder) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		<-r.done
		return
	}
	r.closed = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	<-r.done
}

func (r *Recorder) loop() {
	defer close(r.done)
	defer r.closeSubscribers()
	backoff := 10 * time.Millisecond
	for {
		<-r.wake
		if r.cfg.Linger > 0 {
			// Let concurrent activations join the batch: one commit for many.
			time.Sleep(r.cfg.Linger)
		}
		for {
			r.mu.Lock()
			n := min(len(r.queue), r.cfg.BatchSize)
			batch := r.queue[:n:n]
			closed := r.closed
			r.mu.Unlock()
			if n == 0 {
				if closed {
					return
				}
				break
			}
			acts := make([]*whisk.Activation, n)
			for i, p := range batch {
				acts[i] = p.act
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := r.store.PutActivations(ctx, acts)
			cancel()
			if err != nil {
				r.log.Error("storing activation records failed; retrying", "records", n, "err", err)
				if closed && backoff > 5*time.Second {
					r.log.Error("giving up on activation records at shutdown", "records", n)
					return
				}
				time.Sleep(backoff)
				backoff = min(backoff*2, 10*time.Second)
				continue
			}
			backoff = 10 * time.Millisecond
			r.mu.Lock()
			r.queue = r.queue[n:]
			for _, a := range acts {
				delete(r.pending, a.ActivationID)
			}
			r.committed += uint64(n)
			close(r.committedCh)
			r.committedCh = make(chan struct{})
			r.mu.Unlock()
			for _, p := range batch {
				if p.done != nil {
					p.done()
				}
			}
			r.publish(acts)
		}
	}
}
