package invoker

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/gustfaas/gust/internal/bus"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// InvokeSubject carries accepted non-blocking activations.
const InvokeSubject = "gust.invoke"

// Acceptor publishes non-blocking work on the bus; it implements
// controller.Acceptor.
type Acceptor struct{ Bus bus.Bus }

// Accept returns once msg is durable.
func (a Acceptor) Accept(ctx context.Context, msg *whisk.ActivationMessage) error {
	if msg.Action != nil {
		msg.ActionUpdated = msg.Action.Updated // the consumer may keep this version
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if err := a.Bus.Publish(ctx, InvokeSubject, msg.ActivationID, data); err != nil {
		return &whisk.Error{Code: whisk.CodeUnavailable, Message: "The activation could not be accepted; try again.", Err: err}
	}
	return nil
}

// ConsumerConfig tunes the consumer of accepted work.
type ConsumerConfig struct {
	Subject     string // where the work is published; default InvokeSubject
	Concurrency int    // deliveries handled at once
	MaxDeliver  int    // deliveries before the work is recorded as a whisk internal error
}

// DefaultConsumerConfig follows RELIABILITY.md (max_deliver 5).
func DefaultConsumerConfig() ConsumerConfig {
	return ConsumerConfig{Subject: InvokeSubject, Concurrency: 64, MaxDeliver: 5}
}

// Consumer runs accepted work with the protocol of RELIABILITY.md: a record
// that exists means the work was done (ack, skip); otherwise run, commit the
// record, then ack. Work that keeps failing to be delivered gets a "whisk
// internal error" record.
type Consumer struct {
	cfg     ConsumerConfig
	bus     bus.Bus
	store   store.Store
	invoker *Invoker
	rec     *Recorder
	log     *slog.Logger
	sub     bus.Subscription
	// composer runs compositions; nil leaves them to the invoker.
	composer Composer
	// completed, when set, is told of each record once it is durable, for
	// messages with a ReplyTo (cluster mode; see complete.go).
	completed func(msg *whisk.ActivationMessage, act *whisk.Activation)
	stopping  chan struct{} // closed by Stop: store waits give up (storewait.go)
	stopOnce  sync.Once
	actions   actionCache // see actioncache.go
}

// NewConsumer returns a consumer; Start begins consuming.
func NewConsumer(cfg ConsumerConfig, b bus.Bus, st store.Store, inv *Invoker, rec *Recorder, log *slog.Logger) *Consumer {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConsumerConfig().Concurrency
	}
	if cfg.MaxDeliver <= 0 {
		cfg.MaxDeliver = DefaultConsumerConfig().MaxDeliver
	}
	if cfg.Subject == "" {
		cfg.Subject = InvokeSubject
	}
	if log == nil {
		log = slog.Default()
	}
	return &Consumer{cfg: cfg, bus: b, store: st, invoker: inv, rec: rec, log: log, stopping: make(chan struct{})}
}

// Start subscribes to accepted work.
func (c *Consumer) Start(ctx context.Context) error {
	sub, err := c.bus.Consume(ctx, c.cfg.Subject, c.cfg.Concurrency, c.handle)
	if err != nil {
		return err
	}
	c.sub = sub
	return nil
}

// Stop stops taking work and waits for the running deliveries.
func (c *Consumer) Stop() {
	c.stopOnce.Do(func() { close(c.stopping) })
	if c.sub != nil {
		c.sub.Stop()
	}
}

func (c *Consumer) handle(d bus.Delivery) {
	var msg whisk.ActivationMessage
	if err := json.Unmarshal(d.Data(), &msg); err != nil || !whisk.ValidActivationID(msg.ActivationID) {
		c.log.Error("dropping undecodable accepted work", "id", d.ID(), "err", err)
		_ = d.Ack()
		return
	}
	// A store that cannot answer is waited for with the delivery in hand
	// (its lease renewed): a nak per failed look would spend the deliveries
	// of every queued activation within seconds of an outage (P4).
	// Even a first delivery is checked: a publish retried across a NATS
	// restart is stored again as a new message once the first was consumed
	// (the restarted server rebuilds its duplicate window from the messages
	// it still holds), and it must not run twice.
	var act *whisk.Activation
	if !c.untilStored("checking for an existing record", msg.ActivationID, func(ctx context.Context) (err error) {
		act, err = c.store.GetActivation(ctx, msg.Identity.Namespace, msg.ActivationID)
		return err
	}) {
		_ = d.Nak(time.Second) // stopping: another consumer, or the next start, takes it
		return
	}
	if act != nil {
		c.complete(&msg, act) // whoever waits was not told before the crash
		_ = d.Ack()           // done before a crash, acknowledged too late: never run twice for one record
		return
	}
	if d.Attempt() > c.cfg.MaxDeliver {
		c.recordFailure(&msg, d, whisk.StatusInternalError,
			"The activation could not be run after repeated attempts.")
		return
	}
	var action *whisk.Action
	var rev int64
	if !c.untilStored("reading the action", msg.ActivationID, func(ctx context.Context) (err error) {
		action, rev, err = c.load(ctx, &msg)
		return err
	}) {
		_ = d.Nak(time.Second)
		return
	}
	if action == nil {
		c.recordFailure(&msg, d, whisk.StatusApplicationError, "The requested action no longer exists.")
		return
	}
	msg.Action, msg.ActionRev = action, rev
	if c.compose(&msg, func() { _ = d.Ack() }, func() { _ = d.Nak(time.Second) }) {
		return
	}
	done := c.onRecorded(&msg, d)
	msg.OnAbandoned = func() { _ = d.Nak(0) } // the shutdown cut it off: run it again after
	ch, err := c.invoker.Start(&msg)
	if err != nil {
		// The invoker is closed: the process is stopping. Hand the work back
		// once this consumer stops taking any, or it would come straight
		// back here, again and again, until its deliveries ran out.
		select {
		case <-c.stopping:
		case <-time.After(10 * time.Second):
		}
		_ = d.Nak(0)
		return
	}
	done(<-ch) // hold the delivery slot so that accepted work is admitted at the pace it runs
}

func (c *Consumer) recordFailure(msg *whisk.ActivationMessage, d bus.Delivery, status whisk.StatusCode, text string) {
	now := time.Now().UnixMilli()
	act := &whisk.Activation{
		Namespace: msg.Identity.Namespace, Name: msg.ActionFQN.Name, Subject: msg.Identity.Subject,
		ActivationID: msg.ActivationID, Cause: msg.Cause, Start: now, End: now,
		Response: whisk.ErrorResponse(status, text), StatusCode: int(status), Logs: []string{},
		Annotations: whisk.KeyValues{}.Set("path", msg.ActionFQN.PathName()),
	}
	c.rec.RecordThen(act, func() {
		c.complete(msg, act)
		_ = d.Ack()
	})
}

// loadAction reads an action document from the store.
func loadAction(ctx context.Context, st store.Store, fqn whisk.FQN) (*whisk.Action, int64, error) {
	doc, err := st.GetEntity(ctx, fqn.Path(), fqn.Name)
	if err != nil {
		return nil, 0, err
	}
	if doc.Collection != store.Actions {
		return nil, 0, whisk.ErrNotFound
	}
	var a whisk.Action
	if err := json.Unmarshal(doc.Body, &a); err != nil {
		return nil, 0, err
	}
	return &a, doc.Rev, nil
}
