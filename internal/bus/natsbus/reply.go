package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/gustfaas/gust/internal/bus"
)

// Request/reply is for blocking work across processes: a controller waits
// for an answer that an invoker sends when it is done. It runs on core NATS,
// outside the stream, so it is at most once: a reply can be lost with a
// connection, and a requester must have a way on without it (for a blocking
// invoke, answer 202 with the activation id and let the record tell).
//
// Subjects: requests go to <prefix>-rpc.<subject>, served by one member of
// the queue group Config.Group; replies come back on the requester's own
// completion subject, <prefix>-reply.<name>.<token>. Neither is under
// <prefix>.>, so the stream never stores them.

// ErrNoResponders is returned by Request when nothing serves the subject.
var ErrNoResponders = errors.New("natsbus: nothing serves the subject")

// RemoteError is the error a Replier's handler returned, as the requester
// sees it.
type RemoteError struct{ Message string }

func (e *RemoteError) Error() string { return "natsbus: remote: " + e.Message }

// errorHeader carries a handler's error in a reply.
const errorHeader = "Gust-Error"

func (b *Bus) rpcSubject(subject string) (string, error) {
	rel := strings.TrimPrefix(subject, b.cfg.Prefix+".")
	if !validSubject(rel) {
		return "", fmt.Errorf("natsbus: subject %q is not a subject of plain tokens", subject)
	}
	return b.cfg.Prefix + "-rpc." + rel, nil
}

func (b *Bus) replyPrefix() string { return b.cfg.Prefix + "-reply." }

// Requester sends requests and collects their replies on one completion
// subject of its own, with one subscription however many requests are in
// flight. Name it after the process (a controller's id), unique in the
// cluster. It is safe for concurrent use.
type Requester struct {
	bus     *Bus
	subject string // <prefix>-reply.<name>
	sub     *nats.Subscription

	mu      sync.Mutex
	waiting map[string]chan *nats.Msg
	closed  bool
}

// NewRequester subscribes to the completion subject of name.
func NewRequester(b *Bus, name string) (*Requester, error) {
	if !validName(name) {
		return nil, fmt.Errorf("natsbus: requester name %q must be one subject token", name)
	}
	r := &Requester{bus: b, subject: b.replyPrefix() + name, waiting: make(map[string]chan *nats.Msg)}
	sub, err := b.nc.Subscribe(r.subject+".*", r.deliver)
	if err != nil {
		return nil, fmt.Errorf("natsbus: subscribe to %s: %w", r.subject, err)
	}
	// A reply can only be routed here once the server knows the
	// subscription.
	if err := b.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("natsbus: subscribe to %s: %w", r.subject, err)
	}
	r.sub = sub
	return r, nil
}

func (r *Requester) deliver(m *nats.Msg) {
	token := strings.TrimPrefix(m.Subject, r.subject+".")
	r.mu.Lock()
	ch := r.waiting[token]
	delete(r.waiting, token)
	r.mu.Unlock()
	if ch != nil {
		ch <- m // buffered: never blocks the subscription
	}
}

// Close stops collecting replies; waits in progress fail.
func (r *Requester) Close() error {
	r.mu.Lock()
	r.closed = true
	for token, ch := range r.waiting {
		close(ch)
		delete(r.waiting, token)
	}
	r.mu.Unlock()
	return r.sub.Unsubscribe()
}

// Awaited is one expected reply.
type Awaited struct {
	r     *Requester
	token string
	ch    chan *nats.Msg
}

// Await registers interest in the reply with this token (a subject token,
// such as an activation id) before whatever asks for it is sent, so that a
// fast reply is not missed. Put Subject in the request; the server side
// answers with Bus.Reply.
func (r *Requester) Await(token string) (*Awaited, error) {
	if !validName(token) {
		return nil, fmt.Errorf("natsbus: reply token %q must be one subject token", token)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("natsbus: requester closed")
	}
	if _, dup := r.waiting[token]; dup {
		return nil, fmt.Errorf("natsbus: a reply with token %s is already awaited", token)
	}
	a := &Awaited{r: r, token: token, ch: make(chan *nats.Msg, 1)}
	r.waiting[token] = a.ch
	return a, nil
}

// Subject is where the reply must be sent.
func (a *Awaited) Subject() string { return a.r.subject + "." + a.token }

// Wait returns the reply's data, or the error a Replier's handler returned
// (a *RemoteError), ErrNoResponders, or ctx's error.
func (a *Awaited) Wait(ctx context.Context) ([]byte, error) {
	select {
	case m, ok := <-a.ch:
		if !ok {
			return nil, errors.New("natsbus: requester closed")
		}
		return decodeReply(m)
	case <-ctx.Done():
		a.Cancel()
		return nil, ctx.Err()
	}
}

// Cancel forgets the expected reply; one that comes later is dropped.
func (a *Awaited) Cancel() {
	a.r.mu.Lock()
	if a.r.waiting[a.token] == a.ch {
		delete(a.r.waiting, a.token)
	}
	a.r.mu.Unlock()
}

func decodeReply(m *nats.Msg) ([]byte, error) {
	// The server answers a request to a subject without subscribers with an
	// empty 503 status message.
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return nil, ErrNoResponders
	}
	if msg := m.Header.Get(errorHeader); msg != "" {
		return nil, &RemoteError{Message: msg}
	}
	return m.Data, nil
}

// Request sends data to whoever serves subject and waits for the answer
// until ctx ends.
func (r *Requester) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	subj, err := r.bus.rpcSubject(subject)
	if err != nil {
		return nil, err
	}
	// A random token: a late reply to a request of an earlier process with
	// the same name must not answer this one.
	a, err := r.Await(strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix))
	if err != nil {
		return nil, err
	}
	defer a.Cancel()
	if err := r.bus.nc.PublishMsg(&nats.Msg{Subject: subj, Reply: a.Subject(), Data: data}); err != nil {
		return nil, fmt.Errorf("natsbus: request %s: %w", subj, err)
	}
	return a.Wait(ctx)
}

// Reply sends data to a completion subject taken from a request (an
// Awaited's Subject). Only completion subjects are accepted, so a reply
// address smuggled into a message cannot make the bus publish work.
func (b *Bus) Reply(subject string, data []byte) error {
	if !strings.HasPrefix(subject, b.replyPrefix()) || !validSubject(subject) {
		return fmt.Errorf("natsbus: %q is not a completion subject", subject)
	}
	if err := b.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("natsbus: reply to %s: %w", subject, err)
	}
	return nil
}

// Replier serves requests. Each subject is served by one member of the
// queue group, whichever process of the group serves it.
type Replier struct {
	bus   *Bus
	group string
}

// NewReplier returns a replier in the bus's group (Config.Group).
func NewReplier(b *Bus) *Replier { return &Replier{bus: b, group: b.cfg.Group} }

// Serve answers requests to subject with handler, each in its own
// goroutine: a blocking invocation runs as long as its action does. An
// error from handler reaches the requester as a *RemoteError.
func (p *Replier) Serve(subject string, handler func(data []byte) ([]byte, error)) (bus.Subscription, error) {
	subj, err := p.bus.rpcSubject(subject)
	if err != nil {
		return nil, err
	}
	s := &serving{}
	sub, err := p.bus.nc.QueueSubscribe(subj, p.group, func(m *nats.Msg) {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			respond(m, nil, errors.New("the server is stopping"))
			return
		}
		s.work.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.work.Done()
			data, err := handler(m.Data)
			respond(m, data, err)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: serve %s: %w", subj, err)
	}
	if err := p.bus.nc.Flush(); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("natsbus: serve %s: %w", subj, err)
	}
	s.sub = sub
	return s, nil
}

func respond(m *nats.Msg, data []byte, err error) {
	reply := &nats.Msg{Data: data}
	if err != nil {
		reply.Data = nil
		// A header value ends at the line's end.
		msg := strings.Join(strings.Fields(err.Error()), " ")
		reply.Header = nats.Header{errorHeader: []string{msg}}
	}
	_ = m.RespondMsg(reply)
}

type serving struct {
	sub     *nats.Subscription
	mu      sync.Mutex
	stopped bool
	work    sync.WaitGroup
}

// Stop implements bus.Subscription: no new requests are taken, and the
// ones running are answered before it returns.
func (s *serving) Stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	_ = s.sub.Unsubscribe()
	s.work.Wait()
}
