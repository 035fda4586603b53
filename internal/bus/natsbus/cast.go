package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gustfaas/gust/internal/bus"
)

// Broadcasts are what the processes of a cluster tell each other about
// themselves: heartbeats, cache invalidations, activation records for
// watchers. They run on core NATS under <prefix>-cast.<subject>, outside the
// stream (which captures <prefix>.>: a heartbeat published there would be
// stored as work), so they are at most once and reach only the processes
// connected at the time. Every listener of a subject receives every
// broadcast; there is no queue group.

func (b *Bus) castSubject(subject string) (string, error) {
	if !validSubject(subject) {
		return "", fmt.Errorf("natsbus: broadcast subject %q is not a subject of plain tokens", subject)
	}
	return b.cfg.Prefix + "-cast." + subject, nil
}

// Cast broadcasts data on subject to every listener connected now. It fails
// only when the message cannot be sent (the connection is closed, or down
// and its reconnect buffer full); nil does not mean anyone received it.
func (b *Bus) Cast(subject string, data []byte) error {
	subj, err := b.castSubject(subject)
	if err != nil {
		return err
	}
	if err := b.nc.Publish(subj, data); err != nil {
		return fmt.Errorf("natsbus: broadcast on %s: %w", subj, err)
	}
	return nil
}

// Listen calls handler with every broadcast on subject, one at a time in
// arrival order. When the broadcast came from Gather, a non-nil return is
// sent back to the gatherer as this listener's answer.
func (b *Bus) Listen(subject string, handler func(data []byte) []byte) (bus.Subscription, error) {
	subj, err := b.castSubject(subject)
	if err != nil {
		return nil, err
	}
	sub, err := b.nc.Subscribe(subj, func(m *nats.Msg) {
		out := handler(m.Data)
		if out != nil && m.Reply != "" {
			_ = m.Respond(out)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: listen on %s: %w", subj, err)
	}
	// A broadcast reaches a listener only once the server knows it.
	if err := b.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("natsbus: listen on %s: %w", subj, err)
	}
	return listening{sub}, nil
}

type listening struct{ sub *nats.Subscription }

// Stop implements bus.Subscription. A handler already running finishes on
// its own.
func (l listening) Stop() { _ = l.sub.Unsubscribe() }

// Gather broadcasts data on subject and collects the listeners' answers
// until want of them have come, wait has passed or ctx ends, whichever is
// first. It returns what came; an error only when the broadcast could not be
// sent.
func (b *Bus) Gather(ctx context.Context, subject string, data []byte, want int, wait time.Duration) ([][]byte, error) {
	subj, err := b.castSubject(subject)
	if err != nil {
		return nil, err
	}
	inbox := b.nc.NewRespInbox()
	answers := make(chan []byte, max(want, 1))
	var mu sync.Mutex
	done := false
	sub, err := b.nc.Subscribe(inbox, func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		// The server answers a broadcast nobody listens to with an empty
		// "no responders" status: that is no answer.
		if done || len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			return
		}
		select {
		case answers <- m.Data:
		default: // more answers than wanted
		}
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: gather on %s: %w", subj, err)
	}
	defer func() {
		mu.Lock()
		done = true
		mu.Unlock()
		_ = sub.Unsubscribe()
	}()
	if err := b.nc.PublishMsg(&nats.Msg{Subject: subj, Reply: inbox, Data: data}); err != nil {
		return nil, fmt.Errorf("natsbus: gather on %s: %w", subj, err)
	}
	var out [][]byte
	if want <= 0 {
		return out, nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for len(out) < want {
		select {
		case a := <-answers:
			out = append(out, a)
		case <-timer.C:
			return out, nil
		case <-ctx.Done():
			return out, nil
		}
	}
	return out, nil
}

// connHooks serializes OnConnectionChange, which chains onto the handlers
// already set.
var connHooks sync.Mutex

// Connected reports whether the connection to NATS is up now.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// OnConnectionChange calls f(false) whenever the connection to NATS is lost
// and f(true) whenever it is back, after the bus's own logging. Broadcasts
// sent meanwhile were missed: a process that caches what they announce
// must forget it on both calls (see cluster.Caches).
func (b *Bus) OnConnectionChange(f func(up bool)) {
	connHooks.Lock()
	defer connHooks.Unlock()
	prevDown, prevUp := b.nc.Opts.DisconnectedErrCB, b.nc.Opts.ReconnectedCB
	b.nc.SetDisconnectErrHandler(func(nc *nats.Conn, err error) {
		if prevDown != nil {
			prevDown(nc, err)
		}
		if !nc.IsClosed() {
			f(false)
		}
	})
	b.nc.SetReconnectHandler(func(nc *nats.Conn) {
		if prevUp != nil {
			prevUp(nc)
		}
		f(true)
	})
}

// SubjectCounts returns, for every subject under subject.> that holds
// messages in the stream (acknowledged ones are gone: it is a work queue),
// how many it holds. Subjects are given relative to the prefix, as the bus
// takes them.
func (b *Bus) SubjectCounts(ctx context.Context, subject string) (map[string]uint64, error) {
	subj, err := b.subject(subject)
	if err != nil {
		return nil, err
	}
	info, err := b.stream.Info(ctx, jetstream.WithSubjectFilter(subj+".>"))
	if err != nil {
		return nil, fmt.Errorf("natsbus: stream %s: %w", b.cfg.Stream, err)
	}
	out := make(map[string]uint64, len(info.State.Subjects))
	for s, n := range info.State.Subjects {
		out[strings.TrimPrefix(s, b.cfg.Prefix+".")] = n
	}
	return out, nil
}

// DeleteConsumer deletes the durable consumer of subject, which no process
// consumes any more (an invoker that is gone for good). A consumer that does
// not exist is no error. Messages still in the subject stay in the stream
// for the next consumer.
func (b *Bus) DeleteConsumer(ctx context.Context, subject string) error {
	subj, err := b.subject(subject)
	if err != nil {
		return err
	}
	err = b.js.DeleteConsumer(ctx, b.cfg.Stream, b.consumerName(subj))
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("natsbus: delete consumer of %s: %w", subj, err)
	}
	return nil
}

// MaxPayload is the largest message the server accepts (1 MB unless
// configured otherwise).
func (b *Bus) MaxPayload() int { return int(b.nc.MaxPayload()) }

// Completions subscribes to the completion subjects of name,
// <prefix>-reply.<name>.<token>, and calls handler with the token and data of
// each reply sent there with Reply, one at a time. It is Requester's
// counterpart for a process that routes replies itself: many tokens, most of
// them with nobody waiting (a controller releasing the capacity of
// non-blocking work when it completes). Put Subject(name, token) in the
// request.
func (b *Bus) Completions(name string, handler func(token string, data []byte)) (bus.Subscription, error) {
	if !validName(name) {
		return nil, fmt.Errorf("natsbus: completion name %q must be one subject token", name)
	}
	prefix := b.replyPrefix() + name + "."
	sub, err := b.nc.Subscribe(prefix+"*", func(m *nats.Msg) {
		handler(strings.TrimPrefix(m.Subject, prefix), m.Data)
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe to %s*: %w", prefix, err)
	}
	if err := b.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("natsbus: subscribe to %s*: %w", prefix, err)
	}
	return listening{sub}, nil
}

// CompletionSubject is where a reply for token must go to reach the
// Completions of name.
func (b *Bus) CompletionSubject(name, token string) string {
	return b.replyPrefix() + name + "." + token
}

// Dial connects to a cluster's bus without creating or changing its stream
// (a tool looking at a running cluster must not reconfigure it), and fails
// when the stream does not exist.
func Dial(ctx context.Context, cfg Config) (*Bus, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.URL, append([]nats.Option{nats.Name(cfg.Name)}, cfg.Options...)...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	stream, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: stream %s: %w", cfg.Stream, err)
	}
	return &Bus{cfg: cfg, nc: nc, js: js, stream: stream, log: cfg.Log}, nil
}
