package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gustfaas/gust/internal/bus"
	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/scheduler"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

var (
	_ controller.Invoker  = (*Client)(nil)
	_ controller.Acceptor = (*Client)(nil)
)

// MsgNotAccepted answers work the bus would not take (NATS unreachable, the
// stream full): 503, never a 202 for work that is not durable.
const MsgNotAccepted = "The activation could not be accepted; try again."

// ClientConfig tunes a Client.
type ClientConfig struct {
	// Role and ID name the process, whose completion subjects the client
	// receives on.
	Role, ID string
	// ReplyMargin is how long past an activation's timeout a blocking
	// caller waits for its completion before it also reads the store (the
	// invoker that ran it may have died after committing the record).
	ReplyMargin time.Duration
	// PollMax bounds the interval between reads of the store.
	PollMax time.Duration
	// FirstHeartbeat is how long after the client starts a request that
	// finds no invoker at all waits for one to be heard from before it is
	// refused: a controller that has just started has not heard the
	// invokers' heartbeats yet, and refusing then was a 503 on every
	// restart. Negative: refuse at once.
	FirstHeartbeat time.Duration
	Log            *slog.Logger
}

// DefaultClientConfig returns the defaults.
func DefaultClientConfig(role, id string) ClientConfig {
	return ClientConfig{Role: role, ID: id, ReplyMargin: 5 * time.Second, PollMax: 5 * time.Second,
		FirstHeartbeat: 3 * time.Second} // three heartbeat intervals
}

// Client places activations on the invokers of a cluster and sends them
// there; it implements controller.Invoker (blocking work) and
// controller.Acceptor (non-blocking work). It is safe for concurrent use.
//
// Placement is OpenWhisk's sharding balancer (spec §13): scheduler.Place
// over every known invoker sorted by id, healthy or not, so that an action
// keeps its home while another invoker is down. Each controller owns an
// equal share of every invoker's memory (user memory ÷ healthy controllers)
// and counts what it placed there until the completion comes, or until
// twice the action's timeout plus a minute has passed (OpenWhisk's
// completion-ack timeout); when its share of the home invoker is taken it
// steps to the others, and when every share is taken the home invoker gets
// the work anyway and queues it (the invoker admits by memory, and JetStream
// holds what it has not pulled).
type Client struct {
	cfg      ClientConfig
	bus      Bus
	members  *Members
	store    store.Store
	composes func(*whisk.Action) bool
	log      *slog.Logger
	name     string
	sub      bus.Subscription

	mu      sync.Mutex
	held    map[string]int     // invoker id → MB this process placed there, not yet completed
	flights map[string]*flight // activation id → its placement

	started time.Time

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type flight struct {
	invoker string
	mb      int
	expires time.Time
	reply   chan []byte // blocking work: the completion; nil otherwise
}

// NewClient starts receiving completions. composes tells compositions
// (sequences, conductor actions), which run in whatever process consumes
// their message and hold no invoker memory.
func NewClient(cfg ClientConfig, b Bus, members *Members, st store.Store, composes func(*whisk.Action) bool) (*Client, error) {
	d := DefaultClientConfig(cfg.Role, cfg.ID)
	if cfg.ReplyMargin <= 0 {
		cfg.ReplyMargin = d.ReplyMargin
	}
	if cfg.PollMax <= 0 {
		cfg.PollMax = d.PollMax
	}
	if cfg.FirstHeartbeat == 0 {
		cfg.FirstHeartbeat = d.FirstHeartbeat
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &Client{
		cfg: cfg, bus: b, members: members, store: st, composes: composes,
		log:     cfg.Log.With("component", "cluster-client"),
		name:    completionName(cfg.Role, cfg.ID),
		held:    map[string]int{},
		flights: map[string]*flight{},
		started: time.Now(),
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	sub, err := b.Completions(c.name, c.completed)
	if err != nil {
		return nil, err
	}
	c.sub = sub
	go c.sweep()
	return c, nil
}

// Close stops receiving completions. Blocking callers still waiting read
// the store.
func (c *Client) Close() {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.sub.Stop()
	})
}

func unavailable(msg string, err error) error {
	return &whisk.Error{Code: whisk.CodeUnavailable, Message: msg, Err: err}
}

// errNoInvoker is OpenWhisk's answer when its balancer finds no healthy
// invoker: a LoadBalancerException, terminated as a bare 503.
var errNoInvoker = unavailable(controller.MsgUnavailable, errors.New("no healthy invoker"))

// place picks the invoker for msg and counts mb there until release.
func (c *Client) place(msg *whisk.ActivationMessage, mb int, reply chan []byte) (string, error) {
	invs := c.members.List(RoleInvoker)
	if len(invs) == 0 {
		invs = c.awaitInvokers()
	}
	controllers := max(c.members.Count(RoleController), 1)
	snap := make([]scheduler.Invoker, len(invs))
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range invs {
		snap[i] = scheduler.Invoker{ID: m.ID, Healthy: m.State == StateHealthy, FreeMB: m.UserMB/controllers - c.held[m.ID]}
	}
	idx, ok := scheduler.Place(snap, msg.Identity.Namespace, msg.ActionFQN.String(), mb)
	if !ok {
		return "", errNoInvoker
	}
	id := invs[idx].ID
	if mb > 0 || reply != nil {
		timeout := time.Duration(msg.Action.Limits.Timeout) * time.Millisecond
		c.held[id] += mb
		c.flights[msg.ActivationID] = &flight{invoker: id, mb: mb, reply: reply, expires: time.Now().Add(2*timeout + time.Minute)}
	}
	return id, nil
}

// awaitInvokers waits, while the client is younger than FirstHeartbeat,
// until some invoker has been heard from, and returns the invokers then.
func (c *Client) awaitInvokers() []Member {
	deadline := c.started.Add(c.cfg.FirstHeartbeat)
	for time.Now().Before(deadline) {
		select {
		case <-c.stop:
			return nil
		case <-time.After(20 * time.Millisecond):
		}
		if invs := c.members.List(RoleInvoker); len(invs) > 0 {
			return invs
		}
	}
	return nil
}

// release forgets the placement of activation id and returns it (nil when
// it was released already).
func (c *Client) release(id string) *flight {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.flights[id]
	if f == nil {
		return nil
	}
	delete(c.flights, id)
	if c.held[f.invoker] -= f.mb; c.held[f.invoker] <= 0 {
		delete(c.held, f.invoker)
	}
	return f
}

// completed receives a completion: it frees the capacity and hands the
// record to a blocking caller, if one waits.
func (c *Client) completed(token string, data []byte) {
	if f := c.release(token); f != nil && f.reply != nil {
		f.reply <- data // buffered, and only ever sent once
	}
}

// sweep frees what was placed long ago and never completed (its completion
// was lost, or the invoker that took it died and the work is still
// waiting to be adopted).
func (c *Client) sweep() {
	defer close(c.done)
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			var late []string
			c.mu.Lock()
			for id, f := range c.flights {
				if f.reply == nil && now.After(f.expires) {
					late = append(late, id)
				}
			}
			c.mu.Unlock()
			for _, id := range late {
				c.release(id)
			}
		}
	}
}

// InFlight reports what this process has placed and not yet seen complete,
// by invoker (tests and metrics).
func (c *Client) InFlight() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.held))
	for k, v := range c.held {
		out[k] = v
	}
	return out
}

func (c *Client) send(ctx context.Context, msg *whisk.ActivationMessage, invoker string) error {
	if msg.Action != nil {
		msg.ActionUpdated = msg.Action.Updated // the invoker may keep this version
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return c.bus.Publish(ctx, InvokeSubject(invoker), msg.ActivationID, data)
}

// Start implements controller.Invoker: the activation is durable on the
// invoker's subject when Start returns, and the channel receives its record
// once it is committed. It fails with 503 when no invoker is healthy or the
// bus does not take the work.
func (c *Client) Start(msg *whisk.ActivationMessage) (<-chan *whisk.Activation, error) {
	if msg.Action == nil {
		return nil, &whisk.Error{Code: whisk.CodeInternal, Message: "cluster: message without its action"}
	}
	reply := make(chan []byte, 1)
	invoker, err := c.place(msg, msg.Action.Limits.Memory, reply)
	if err != nil {
		return nil, err
	}
	msg.ReplyTo = c.bus.CompletionSubject(c.name, msg.ActivationID)
	if err := c.send(context.Background(), msg, invoker); err != nil {
		c.release(msg.ActivationID)
		return nil, unavailable(MsgNotAccepted, err)
	}
	ch := make(chan *whisk.Activation, 1)
	go c.await(msg, reply, ch)
	return ch, nil
}

// Accept implements controller.Acceptor: it returns once the work is
// durable on an invoker's subject.
func (c *Client) Accept(ctx context.Context, msg *whisk.ActivationMessage) error {
	mb := 0
	if msg.Action != nil && (c.composes == nil || !c.composes(msg.Action)) {
		mb = msg.Action.Limits.Memory
	}
	invoker, err := c.place(msg, mb, nil)
	if err != nil {
		return err
	}
	if mb > 0 {
		// The completion frees the capacity; nobody waits for the record.
		msg.ReplyTo = c.bus.CompletionSubject(c.name, msg.ActivationID)
	}
	if err := c.send(ctx, msg, invoker); err != nil {
		c.release(msg.ActivationID)
		return unavailable(MsgNotAccepted, err)
	}
	return nil
}

// await delivers the record of a blocking activation: from its completion,
// or from the store once the completion is late (the invoker died after
// committing it, or the completion was lost with a connection). The
// channel always receives something, so that the controller frees the
// caller's concurrency slot: past the placement's expiry, a record saying
// the activation did not complete in time.
func (c *Client) await(msg *whisk.ActivationMessage, reply chan []byte, ch chan<- *whisk.Activation) {
	timeout := time.Duration(msg.Action.Limits.Timeout) * time.Millisecond
	expires := time.Now().Add(2*timeout + time.Minute)
	timer := time.NewTimer(timeout + c.cfg.ReplyMargin)
	defer timer.Stop()
	poll := 250 * time.Millisecond
	for {
		select {
		case data := <-reply:
			act, err := c.decode(msg, data)
			if err != nil {
				c.log.Error("unreadable completion; reading the store", "activation", msg.ActivationID, "err", err)
				timer.Reset(0)
				continue
			}
			ch <- act
			return
		case <-timer.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		act, err := c.store.GetActivation(ctx, msg.Identity.Namespace, msg.ActivationID)
		cancel()
		if err == nil {
			c.release(msg.ActivationID)
			ch <- act
			return
		}
		if !errors.Is(err, whisk.ErrNotFound) {
			c.log.Warn("reading an activation record failed", "activation", msg.ActivationID, "err", err)
		}
		if time.Now().After(expires) {
			c.release(msg.ActivationID)
			c.log.Error("no record of a blocking activation after twice its timeout and a minute", "activation", msg.ActivationID)
			ch <- notCompleted(msg)
			return
		}
		timer.Reset(poll)
		poll = min(2*poll, c.cfg.PollMax)
	}
}

// decode reads a completion, going to the store for a record too large to
// travel in one.
func (c *Client) decode(msg *whisk.ActivationMessage, data []byte) (*whisk.Activation, error) {
	var comp Completion
	if err := json.Unmarshal(data, &comp); err != nil {
		return nil, err
	}
	if comp.Activation != nil {
		return comp.Activation, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	act, err := c.store.GetActivation(ctx, msg.Identity.Namespace, msg.ActivationID)
	if err != nil {
		return nil, fmt.Errorf("read the record of a large completion: %w", err)
	}
	return act, nil
}

// notCompleted is what a blocking caller's bookkeeping receives when an
// activation never completed: nothing is stored (the work may still run,
// and then records itself).
func notCompleted(msg *whisk.ActivationMessage) *whisk.Activation {
	now := time.Now().UnixMilli()
	resp := whisk.ErrorResponse(whisk.StatusInternalError, whisk.MsgInternal)
	return &whisk.Activation{
		Namespace: msg.Identity.Namespace, Name: msg.ActionFQN.Name, Subject: msg.Identity.Subject,
		ActivationID: msg.ActivationID, Start: now, End: now, Response: resp, StatusCode: int(resp.StatusCode),
		Logs: []string{},
	}
}

// Completion is what an invoker sends to the process that placed an
// activation once its record is committed.
type Completion struct {
	// Activation is the record; nil when it was too large for the bus, and
	// then it is read from the store.
	Activation *whisk.Activation `json:"activation,omitempty"`
}

// EncodeCompletion encodes the completion of act for a bus that carries at
// most maxBytes per message.
func EncodeCompletion(act *whisk.Activation, maxBytes int) []byte {
	data, err := json.Marshal(Completion{Activation: act})
	if err != nil || len(data) > maxBytes-1024 {
		return []byte("{}")
	}
	return data
}
