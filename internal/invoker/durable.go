package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
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
	return &Consumer{cfg: cfg, bus: b, store: st, invoker: inv, rec: rec, log: log}
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if act, err := c.store.GetActivation(ctx, msg.Identity.Namespace, msg.ActivationID); err == nil {
		c.complete(&msg, act) // whoever waits was not told before the crash
		_ = d.Ack()           // done before a crash, acknowledged too late: never run twice for one record
		return
	} else if !errors.Is(err, whisk.ErrNotFound) {
		c.log.Warn("checking for an existing record failed; retrying later", "activation", msg.ActivationID, "err", err)
		_ = d.Nak(time.Second)
		return
	}
	if d.Attempt() > c.cfg.MaxDeliver {
		c.recordFailure(&msg, d, whisk.StatusInternalError,
			"The activation could not be run after repeated attempts.")
		return
	}
	action, rev, err := loadAction(ctx, c.store, msg.ActionFQN)
	if errors.Is(err, whisk.ErrNotFound) {
		c.recordFailure(&msg, d, whisk.StatusApplicationError, "The requested action no longer exists.")
		return
	} else if err != nil {
		_ = d.Nak(time.Second)
		return
	}
	msg.Action, msg.ActionRev = action, rev
	if c.compose(&msg, func() { _ = d.Ack() }, func() { _ = d.Nak(time.Second) }) {
		return
	}
	done := c.onRecorded(&msg, d)
	ch, err := c.invoker.Start(&msg)
	if err != nil {
		_ = d.Nak(0) // shutting down: the next start takes it back
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
