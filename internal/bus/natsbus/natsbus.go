// Package natsbus is the cluster bus: bus.Bus on a NATS JetStream work
// queue, shared by every controller (publishers) and invoker (consumers) of
// a cluster, plus request/reply over core NATS for blocking work (see
// Requester and Replier).
//
// The settings follow RELIABILITY.md:
//
//   - One stream (GUST_INVOKE) holds every durable subject, <prefix>.>, on
//     file storage with workqueue retention (a message is gone once
//     acknowledged), discard new (a full stream refuses work instead of
//     dropping accepted work), a 2-minute duplicate window, a 24-hour age
//     limit and deny delete/purge.
//   - Publish sends Nats-Msg-Id = the id and returns only after the stream's
//     PubAck; it retries the same id for a bounded time, so a retry after a
//     lost PubAck is deduplicated, then fails (the API answers 503).
//   - Each subject has one durable pull consumer shared by every process
//     consuming it: explicit acks, AckWait with InProgress renewals every
//     AckWait/3 while a delivery is held, MaxDeliver and BackOff for
//     redelivery, and acks confirmed by the server (DoubleAck).
//
// The durability of a PubAck is the server's: run nats-server with
// sync_interval: always (RELIABILITY.md, P1); nothing in the client can
// check it.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/gustfaas/gust/internal/bus"
)

var _ bus.Bus = (*Bus)(nil)

// Stream settings that RELIABILITY.md fixes.
const (
	DuplicateWindow = 2 * time.Minute
	MaxAge          = 24 * time.Hour
)

// Config configures the bus. Zero fields take the DefaultConfig values.
type Config struct {
	// URL lists the NATS servers, comma-separated.
	URL string
	// Name identifies the connection in the server's monitoring.
	Name string
	// Stream names the JetStream stream of durable work.
	Stream string
	// Prefix is the first token of every subject this bus uses. Subjects
	// passed to the bus are relative to it ("invoke" is <prefix>.invoke); one
	// that already starts with "<prefix>." is taken as it is. The stream
	// captures <prefix>.>; request/reply uses <prefix>-rpc.> and
	// <prefix>-reply.>, which it does not.
	Prefix string
	// Replicas is the stream's replication factor: 3 on three hosts in
	// production, 1 in development.
	Replicas int
	// Group names the durable consumer of each subject, <group>_<subject>,
	// shared by every process that consumes the subject, and the queue
	// group of Replier.
	Group string
	// AckWait is how long a delivery may go without an ack, a nak or a
	// renewal before it is redelivered.
	AckWait time.Duration
	// BackOff replaces AckWait for the successive redeliveries of a message;
	// its first entry must not be shorter than AckWait, and it must be
	// shorter than MaxDeliver.
	BackOff []time.Duration
	// MaxDeliver is how many times a message is delivered at most.
	MaxDeliver int
	// MaxAckPending caps the deliveries held at once by all the processes
	// sharing a consumer: the sum of their slots. 0 means the max given to
	// Consume; an existing consumer's larger cap is never lowered.
	MaxAckPending int
	// PublishRetry bounds how long Publish retries one id on transient
	// errors (no stream leader, connection lost, timeout) before failing.
	PublishRetry time.Duration
	// PullWait is how long one pull request waits for messages. Stop waits
	// for the pull in flight, so it also bounds how long Stop takes.
	PullWait time.Duration
	// ReconnectWait is the first delay between reconnection attempts; it
	// doubles up to a few seconds. The bus reconnects forever.
	ReconnectWait time.Duration
	// Options are passed to nats.Connect after the bus's own (credentials,
	// TLS).
	Options []nats.Option
	// Log receives connection events and consumer errors; nil is
	// slog.Default().
	Log *slog.Logger
}

// DefaultConfig follows RELIABILITY.md, with one replica (development).
func DefaultConfig() Config {
	return Config{
		URL:           nats.DefaultURL,
		Name:          "gust",
		Stream:        "GUST_INVOKE",
		Prefix:        "gust",
		Replicas:      1,
		Group:         "invokers",
		AckWait:       30 * time.Second,
		BackOff:       []time.Duration{30 * time.Second, 60 * time.Second, 120 * time.Second, 300 * time.Second},
		MaxDeliver:    5,
		PublishRetry:  30 * time.Second,
		PullWait:      5 * time.Second,
		ReconnectWait: 250 * time.Millisecond,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.URL == "" {
		c.URL = d.URL
	}
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.Stream == "" {
		c.Stream = d.Stream
	}
	if c.Prefix == "" {
		c.Prefix = d.Prefix
	}
	if c.Replicas <= 0 {
		c.Replicas = d.Replicas
	}
	if c.Group == "" {
		c.Group = d.Group
	}
	if c.AckWait <= 0 {
		c.AckWait = d.AckWait
	}
	if c.BackOff == nil {
		c.BackOff = d.BackOff
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = d.MaxDeliver
	}
	if c.PublishRetry <= 0 {
		c.PublishRetry = d.PublishRetry
	}
	if c.PullWait <= 0 {
		c.PullWait = d.PullWait
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = d.ReconnectWait
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	if !validSubject(c.Prefix) {
		return fmt.Errorf("natsbus: prefix %q is not a subject of plain tokens", c.Prefix)
	}
	if !validName(c.Stream) || !validName(c.Group) {
		return fmt.Errorf("natsbus: stream %q and group %q must be names without '.', '*', '>', '/', '\\' or spaces", c.Stream, c.Group)
	}
	if len(c.BackOff) > 0 {
		if c.BackOff[0] < c.AckWait {
			return fmt.Errorf("natsbus: the first BackOff entry (%v) replaces AckWait (%v) and must not be shorter", c.BackOff[0], c.AckWait)
		}
		if len(c.BackOff) >= c.MaxDeliver {
			return fmt.Errorf("natsbus: %d BackOff entries need MaxDeliver above %d, not %d", len(c.BackOff), len(c.BackOff), c.MaxDeliver)
		}
	}
	return nil
}

// Bus is the JetStream bus. It is safe for concurrent use.
type Bus struct {
	cfg    Config
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	log    *slog.Logger
}

// New connects to NATS and creates the stream, or updates it to cfg.
// It fails if no server answers at once; after that the connection is
// re-established forever, and Ping reports whether it is up.
func New(ctx context.Context, cfg Config) (*Bus, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Log.With("component", "natsbus", "stream", cfg.Stream)
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay(cfg.ReconnectWait)),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // Close, not a failure
			}
			log.Warn("disconnected from NATS; new work is refused until the connection is back", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("NATS error", "subject", subject, "err", err)
		}),
	}
	nc, err := nats.Connect(cfg.URL, append(opts, cfg.Options...)...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	stream, err := js.CreateOrUpdateStream(ctx, streamConfig(cfg))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: create stream %s: %w", cfg.Stream, err)
	}
	if v := nc.ConnectedServerVersion(); olderThan(v, minServerVersion) {
		log.Warn("nats-server is older than RELIABILITY.md requires: acknowledged work may be lost in a crash",
			"version", v, "want", fmt.Sprintf("%d.%d.%d", minServerVersion[0], minServerVersion[1], minServerVersion[2]))
	}
	return &Bus{cfg: cfg, nc: nc, js: js, stream: stream, log: log}, nil
}

// minServerVersion has the JetStream fixes RELIABILITY.md relies on
// (nats-server #7594 among them).
var minServerVersion = [3]int{2, 12, 3}

// olderThan compares a "major.minor.patch[-suffix]" version with want; an
// unparsable version is not reported as older.
func olderThan(version string, want [3]int) bool {
	core, _, _ := strings.Cut(version, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return false
		}
		if n != want[i] {
			return n < want[i]
		}
	}
	return false
}

func streamConfig(cfg Config) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              cfg.Stream,
		Description:       "Gust: accepted work not yet done",
		Subjects:          []string{cfg.Prefix + ".>"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.WorkQueuePolicy,
		Replicas:          cfg.Replicas,
		Discard:           jetstream.DiscardNew,
		Duplicates:        DuplicateWindow,
		MaxAge:            MaxAge,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgsPerSubject: -1,
		MaxConsumers:      -1,
		DenyDelete:        true,
		DenyPurge:         true,
	}
}

// reconnectDelay doubles the wait from first up to a few seconds, with
// jitter so that a cluster's processes do not reconnect in lockstep after a
// server restart.
func reconnectDelay(first time.Duration) nats.ReconnectDelayHandler {
	const ceiling = 5 * time.Second
	return func(attempts int) time.Duration {
		d := first
		for i := 1; i < attempts && d < ceiling; i++ {
			d *= 2
		}
		d = min(d, ceiling)
		return d/2 + rand.N(d/2+1)
	}
}

// subject maps a bus subject to its NATS subject under the prefix.
func (b *Bus) subject(subject string) (string, error) {
	rel := strings.TrimPrefix(subject, b.cfg.Prefix+".")
	if !validSubject(rel) {
		return "", fmt.Errorf("natsbus: subject %q is not a subject of plain tokens", subject)
	}
	return b.cfg.Prefix + "." + rel, nil
}

// consumerName names the durable consumer of a NATS subject.
func (b *Bus) consumerName(natsSubject string) string {
	rel := strings.TrimPrefix(natsSubject, b.cfg.Prefix+".")
	return b.cfg.Group + "_" + strings.ReplaceAll(rel, ".", "_")
}

// validSubject reports whether s is a subject of one or more tokens, none
// of them a wildcard.
func validSubject(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return false
		}
	}
	return true
}

func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*>/\\ \t\r\n")
}

// publishAttempt bounds one try of Publish, so that a PubAck lost to a
// dropped connection is retried instead of waited for.
const publishAttempt = 5 * time.Second

// Publish implements bus.Bus: it returns nil once the stream has stored the
// message (or a message with the same id within the duplicate window).
// Transient failures are retried with the same id for Config.PublishRetry;
// the stream refusing the message is not transient.
func (b *Bus) Publish(ctx context.Context, subject, id string, data []byte) error {
	subj, err := b.subject(subject)
	if err != nil {
		return err
	}
	if id == "" {
		return errors.New("natsbus: message needs an id")
	}
	began := time.Now()
	deadline := began.Add(b.cfg.PublishRetry)
	wait := 50 * time.Millisecond
	var cause error // the most telling failure so far
	for {
		attempt := time.Now().Add(publishAttempt)
		if attempt.After(deadline) {
			attempt = deadline
		}
		actx, cancel := context.WithDeadline(ctx, attempt)
		_, err := b.js.Publish(actx, subj, data, jetstream.WithMsgID(id), jetstream.WithExpectStream(b.cfg.Stream))
		cancel()
		if err == nil {
			return nil
		}
		// An attempt cut short by the retry deadline says less than what
		// made the earlier attempts fail.
		if cause == nil || !errors.Is(err, context.DeadlineExceeded) {
			cause = err
		}
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("natsbus: publish %s to %s: %w", id, subj, ctx.Err())
		case !transient(err):
			return fmt.Errorf("natsbus: publish %s to %s: %w", id, subj, err)
		case !time.Now().Add(wait).Before(deadline):
			return fmt.Errorf("natsbus: publish %s to %s: gave up after %v: %w", id, subj,
				time.Since(began).Round(time.Millisecond), cause)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsbus: publish %s to %s: %w", id, subj, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// transient reports whether a failed publish may succeed if tried again:
// anything but the connection being closed for good, the message being
// unsendable, or the stream refusing it (an API error below 500, such as a
// full stream or the subject not being the stream's).
func transient(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, nats.ErrMaxPayload):
		return false
	case errors.As(err, &apiErr):
		return apiErr.Code >= 500
	}
	return true
}

// Ping implements bus.Bus: the connection is up and the stream answers.
func (b *Bus) Ping(ctx context.Context) error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("natsbus: not connected to NATS (%s)", b.nc.Status())
	}
	if _, err := b.stream.Info(ctx); err != nil {
		return fmt.Errorf("natsbus: stream %s: %w", b.cfg.Stream, err)
	}
	return nil
}

// Close implements bus.Bus. It flushes acknowledgements still buffered and
// closes the connection; it does not stop consumers (Stop them first).
func (b *Bus) Close() error {
	if b.nc.IsClosed() {
		return nil
	}
	err := b.nc.FlushTimeout(2 * time.Second)
	b.nc.Close()
	if err != nil && !errors.Is(err, nats.ErrConnectionReconnecting) {
		return fmt.Errorf("natsbus: flush before close: %w", err)
	}
	return nil
}

// Consume implements bus.Bus with the subject's durable pull consumer,
// created or updated to the bus's settings. Several processes consuming one
// subject share its consumer: each message goes to one of them.
//
// A delivery holds one of the slots until its handler has returned and it
// has been acked or nakked, and is renewed (InProgress) every AckWait/3
// while it is held, so work that outlives its handler (acked once its
// record commits) is not redelivered meanwhile. Messages are pulled only
// for free slots: none waits in a client buffer with its AckWait running.
func (b *Bus) Consume(ctx context.Context, subject string, slots int, handler func(bus.Delivery)) (bus.Subscription, error) {
	subj, err := b.subject(subject)
	if err != nil {
		return nil, err
	}
	slots = max(slots, 1)
	name := b.consumerName(subj)
	pending := b.cfg.MaxAckPending
	if pending <= 0 {
		pending = slots
	}
	if c, err := b.js.Consumer(ctx, b.cfg.Stream, name); err == nil {
		// Other processes share this consumer; their slots count too.
		pending = max(pending, c.CachedInfo().Config.MaxAckPending)
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("natsbus: consumer %s: %w", name, err)
	}
	ccfg := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "Gust: " + b.cfg.Group + " of " + subj,
		FilterSubject: subj,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       b.cfg.AckWait,
		MaxDeliver:    b.cfg.MaxDeliver,
		BackOff:       b.cfg.BackOff,
		MaxAckPending: pending,
		ReplayPolicy:  jetstream.ReplayInstantPolicy,
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.cfg.Stream, ccfg)
	if err != nil {
		return nil, fmt.Errorf("natsbus: create consumer %s: %w", name, err)
	}
	s := &subscription{
		bus: b, cons: cons, ccfg: ccfg, subject: subj, handler: handler,
		slots: make(chan struct{}, slots), stop: make(chan struct{}), stopRenew: make(chan struct{}),
		held: make(map[*delivery]struct{}),
	}
	s.pulling.Add(1)
	s.renewing.Add(1)
	go s.pullLoop()
	go s.renewLoop()
	return s, nil
}

type subscription struct {
	bus     *Bus
	cons    jetstream.Consumer // used by pullLoop only
	ccfg    jetstream.ConsumerConfig
	subject string
	handler func(bus.Delivery)
	slots   chan struct{} // a token per delivery held or being pulled for
	once    sync.Once

	stop      chan struct{} // ends pulling
	pulling   sync.WaitGroup
	work      sync.WaitGroup // handlers
	stopRenew chan struct{}  // ends renewals, once the handlers are done
	renewing  sync.WaitGroup

	mu   sync.Mutex
	held map[*delivery]struct{}
}

// Stop implements bus.Subscription. Messages that arrive for the pull in
// flight are nakked at once, so another consumer takes them without waiting
// for AckWait. Deliveries already handed out are renewed until their
// handlers return (a running action is not handed to another invoker
// meanwhile), and after Stop returns they keep their leases until settled
// or until AckWait runs out.
func (s *subscription) Stop() {
	s.once.Do(func() {
		close(s.stop)
		s.pulling.Wait()
		s.work.Wait() // no handler starts once pulling has ended
		close(s.stopRenew)
		s.renewing.Wait()
	})
}

func (s *subscription) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *subscription) pullLoop() {
	defer s.pulling.Done()
	log := s.bus.log.With("subject", s.subject)
	pause := 100 * time.Millisecond
	for {
		// Take every free slot, waiting for at least one. Stop first: with a
		// free slot both cases are ready, and select would pick another
		// pull (PullWait more for Stop) half of the time.
		if s.stopped() {
			return
		}
		select {
		case s.slots <- struct{}{}:
		case <-s.stop:
			return
		}
		n := 1
	more:
		for n < cap(s.slots) {
			select {
			case s.slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		began, got := time.Now(), 0
		batch, err := s.cons.Fetch(n, jetstream.FetchMaxWait(s.bus.cfg.PullWait))
		if err == nil {
			for msg := range batch.Messages() {
				n--
				got++
				if s.stopped() && !s.lastDelivery(msg) {
					s.handBack(msg)
					<-s.slots
					continue
				}
				s.dispatch(msg)
			}
			err = batch.Error()
		}
		for range n {
			<-s.slots
		}
		// A pull the server ends answers with a timeout status when it
		// expires; one that the client gave up on was answered by no one:
		// the consumer is gone, or JetStream is unavailable.
		if err == nil && got == 0 && time.Since(began) > s.bus.cfg.PullWait+500*time.Millisecond && !s.stopped() {
			err = s.ensureConsumer(log)
		}
		if err == nil || errors.Is(err, nats.ErrTimeout) {
			pause = 100 * time.Millisecond
			continue
		}
		// The consumer or the connection is gone for now: do not spin.
		if !s.stopped() {
			log.Warn("pulling work failed; retrying", "err", err, "in", pause)
		}
		select {
		case <-s.stop:
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrConsumerDeleted) {
			_ = s.ensureConsumer(log)
		}
	}
}

// handBack returns a message that arrived for a stopped subscription's pull.
// Not at once: the pull is still open until it expires, and a message
// nakked without a delay comes straight back into it, to be nakked again,
// until its deliveries run out in milliseconds (a handler nakking work it
// cannot take while the process stops feeds the same loop). A delay past
// the pull's expiry costs one delivery per stop.
func (s *subscription) handBack(msg jetstream.Msg) {
	delay := s.bus.cfg.PullWait + time.Second
	if md, err := msg.Metadata(); err == nil {
		delay -= (&delivery{sub: s, attempt: int(md.NumDelivered)}).nakSkew()
	}
	_ = s.bus.nc.Publish(msg.Reply(), fmt.Appendf(nil, `-NAK {"delay": %d}`, delay.Nanoseconds()))
}

// lastDelivery reports whether msg will not be delivered again: it is
// handled even while stopping, so that its consumer can record the failure
// (P4) instead of the stream keeping it forever.
func (s *subscription) lastDelivery(msg jetstream.Msg) bool {
	md, err := msg.Metadata()
	return err == nil && s.bus.cfg.MaxDeliver > 0 && int(md.NumDelivered) >= s.bus.cfg.MaxDeliver
}

// ensureConsumer puts back a consumer deleted from under a live
// subscription (by an operator, or with its stream), which would otherwise
// stop the work of the subject while Ping still reports the bus ready. On a
// workqueue stream the new consumer starts with every message not yet
// acknowledged.
func (s *subscription) ensureConsumer(log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.bus.js.Consumer(ctx, s.bus.cfg.Stream, s.ccfg.Durable)
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return err
	}
	cons, err := s.bus.js.CreateOrUpdateConsumer(ctx, s.bus.cfg.Stream, s.ccfg)
	if err != nil {
		return fmt.Errorf("recreate consumer %s: %w", s.ccfg.Durable, err)
	}
	log.Warn("the consumer was gone; recreated it", "consumer", s.ccfg.Durable)
	s.cons = cons
	return nil
}

func (s *subscription) dispatch(msg jetstream.Msg) {
	d := &delivery{sub: s, msg: msg, running: true, attempt: 1}
	if md, err := msg.Metadata(); err == nil {
		d.attempt = int(md.NumDelivered)
		d.id = strconv.FormatUint(md.Sequence.Stream, 10)
	}
	if id := msg.Headers().Get(jetstream.MsgIDHeader); id != "" {
		d.id = id
	}
	s.mu.Lock()
	s.held[d] = struct{}{}
	s.mu.Unlock()
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		defer d.handlerDone()
		s.handler(d)
	}()
}

// renewLoop tells the server that held deliveries are still being worked
// on, three times per AckWait, so that one lost renewal is not a
// redelivery.
func (s *subscription) renewLoop() {
	defer s.renewing.Done()
	t := time.NewTicker(max(s.bus.cfg.AckWait/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stopRenew:
			return
		case <-t.C:
		}
		s.mu.Lock()
		held := make([]*delivery, 0, len(s.held))
		for d := range s.held {
			held = append(held, d)
		}
		s.mu.Unlock()
		for _, d := range held {
			d.renew()
		}
	}
}

// ackTimeout bounds the wait for the server's confirmation of an ack.
const ackTimeout = 5 * time.Second

type delivery struct {
	sub     *subscription
	msg     jetstream.Msg
	id      string
	attempt int

	mu      sync.Mutex
	running bool // the handler has not returned
	settled bool // acked or nakked
}

func (d *delivery) ID() string   { return d.id }
func (d *delivery) Data() []byte { return d.msg.Data() }
func (d *delivery) Attempt() int { return d.attempt }

// Ack implements bus.Delivery. It waits for the server to confirm
// (DoubleAck): a nil error means the message will not be redelivered.
// After an error it may be, and the consumer then finds its record.
func (d *delivery) Ack() error {
	if !d.settle() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	if err := d.msg.DoubleAck(ctx); err != nil {
		return fmt.Errorf("natsbus: ack %s: %w", d.id, err)
	}
	return nil
}

// Nak implements bus.Delivery: redelivery at once, or after delay.
func (d *delivery) Nak(delay time.Duration) error {
	if !d.settle() {
		return nil
	}
	var err error
	if delay > 0 {
		body := fmt.Sprintf(`-NAK {"delay": %d}`, (delay - d.nakSkew()).Nanoseconds())
		err = d.sub.bus.nc.Publish(d.msg.Reply(), []byte(body))
	} else {
		err = d.msg.Nak()
	}
	if err != nil {
		return fmt.Errorf("natsbus: nak %s: %w", d.id, err)
	}
	return nil
}

// nakSkew is what the server adds to a nak's delay on a consumer with a
// BackOff. It backdates the message by AckWait (which a BackOff sets to its
// first entry) plus the delay, then redelivers once the BackOff entry of
// the delivery count has passed: the wait is delay + BackOff[n] - BackOff[0],
// n being the deliveries so far less one (nats-server consumer.go,
// processNak and checkPending, 2.9 to 2.14). Asking for the delay less that
// difference, negative if need be, gets the delay asked for; TestNakDelay
// checks it against the server.
func (d *delivery) nakSkew() time.Duration {
	backoff := d.sub.bus.cfg.BackOff
	if len(backoff) == 0 {
		return 0
	}
	n := min(max(d.attempt-1, 0), len(backoff)-1)
	return backoff[n] - backoff[0]
}

// settle marks the delivery acked or nakked, reporting whether it was not
// already, and frees its slot if its handler has returned.
func (d *delivery) settle() bool {
	d.mu.Lock()
	if d.settled {
		d.mu.Unlock()
		return false
	}
	d.settled = true
	free := !d.running
	d.mu.Unlock()
	d.release(free)
	return true
}

func (d *delivery) handlerDone() {
	d.mu.Lock()
	d.running = false
	free := d.settled
	d.mu.Unlock()
	if free {
		<-d.sub.slots
	}
}

func (d *delivery) release(free bool) {
	s := d.sub
	s.mu.Lock()
	delete(s.held, d)
	s.mu.Unlock()
	if free {
		<-s.slots
	}
}

func (d *delivery) renew() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.settled {
		return
	}
	_ = d.msg.InProgress()
}
