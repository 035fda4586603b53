// Package controller orchestrates everything behind the REST API that is not
// HTTP: authentication, entitlement, per-namespace throttles, entity CRUD with
// OpenWhisk's merge rules, action resolution through packages and bindings,
// blocking and non-blocking invocation, and activation queries.
//
// Its methods take and return model values (whisk.*) and *whisk.Error values;
// the api package alone turns them into HTTP.
//
// The invoke hot path (Invoke with a cached action) reads nothing from the
// store, re-encodes nothing of the caller's arguments beyond splicing in
// default parameters, and holds no lock across I/O.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// Range is an inclusive interval of allowed values.
type Range struct{ Min, Max int }

// Config holds the platform's limits (spec §11).
type Config struct {
	// Action limits: a default applied on create and the allowed range.
	DefaultTimeoutMS   int
	TimeoutMS          Range
	DefaultMemoryMB    int
	MemoryMB           Range
	DefaultLogsMB      int
	LogsMB             Range
	DefaultConcurrency int
	Concurrency        Range

	MaxPayloadBytes    int // invoke and fire bodies
	MaxParameterBytes  int // parameters of one entity
	MaxAnnotationBytes int // annotations of one entity
	MaxCodeBytes       int // exec of one action
	SequenceMaxLength  int // atomic actions in a sequence, nested ones inlined

	// Namespace throttles; a namespace's own limits override them. 0 means
	// unlimited (OpenWhisk has no such value; Gust adds it so that a
	// benchmark or a single-user machine can turn throttling off).
	InvocationsPerMinute  int
	ConcurrentInvocations int
	FiresPerMinute        int

	// MaxBlockingWait caps how long a blocking invocation waits for its
	// result before answering 202 (OpenWhisk: 60 s).
	MaxBlockingWait time.Duration
	// StoreActivations is reported in the namespace limits; records are
	// written by the invoker's recorder.
	StoreActivations bool

	// AuthCacheTTL bounds how long a verified key is trusted without asking
	// the store again: `gust admin key rotate` may change keys from another
	// process. 0 asks the store on every request.
	AuthCacheTTL time.Duration
	// EntityCacheTTL bounds how long a cached action is used without reading
	// the store again (0 = until invalidated). Writes through this controller
	// always invalidate at once.
	EntityCacheTTL time.Duration
	// EntityCacheBytes bounds the stored size of cached entities; 0 turns
	// the cache off (every invocation then reads its action from the store).
	EntityCacheBytes int
}

// DefaultConfig returns OpenWhisk's reference values.
func DefaultConfig() Config {
	return Config{
		DefaultTimeoutMS:      60000,
		TimeoutMS:             Range{100, 300000},
		DefaultMemoryMB:       256,
		MemoryMB:              Range{128, 512},
		DefaultLogsMB:         10,
		LogsMB:                Range{0, 10},
		DefaultConcurrency:    1,
		Concurrency:           Range{1, 1},
		MaxPayloadBytes:       1 << 20,
		MaxParameterBytes:     1 << 20,
		MaxAnnotationBytes:    1 << 20,
		MaxCodeBytes:          48 << 20,
		SequenceMaxLength:     50,
		InvocationsPerMinute:  120,
		ConcurrentInvocations: 100,
		FiresPerMinute:        60,
		MaxBlockingWait:       60 * time.Second,
		StoreActivations:      true,
		AuthCacheTTL:          5 * time.Second,
		EntityCacheTTL:        time.Minute,
		EntityCacheBytes:      256 << 20,
	}
}

func (cfg Config) validate() error {
	check := func(name string, def int, r Range) error {
		if r.Min > r.Max || def < r.Min || def > r.Max {
			return fmt.Errorf("controller: %s default %d outside its range [%d, %d]", name, def, r.Min, r.Max)
		}
		return nil
	}
	return errors.Join(
		check("timeout", cfg.DefaultTimeoutMS, cfg.TimeoutMS),
		check("memory", cfg.DefaultMemoryMB, cfg.MemoryMB),
		check("logs", cfg.DefaultLogsMB, cfg.LogsMB),
		check("concurrency", cfg.DefaultConcurrency, cfg.Concurrency),
		positive("max payload", cfg.MaxPayloadBytes),
		positive("max parameter size", cfg.MaxParameterBytes),
		positive("max annotation size", cfg.MaxAnnotationBytes),
		positive("max code size", cfg.MaxCodeBytes),
		positive("sequence max length", cfg.SequenceMaxLength),
		positive("max blocking wait", int(cfg.MaxBlockingWait)),
		nonNegative("invocations per minute", cfg.InvocationsPerMinute),
		nonNegative("concurrent invocations", cfg.ConcurrentInvocations),
		nonNegative("fires per minute", cfg.FiresPerMinute),
		nonNegative("entity cache bytes", cfg.EntityCacheBytes),
	)
}

func positive(name string, v int) error {
	if v <= 0 {
		return fmt.Errorf("controller: %s must be positive", name)
	}
	return nil
}

func nonNegative(name string, v int) error {
	if v < 0 {
		return fmt.Errorf("controller: %s must not be negative", name)
	}
	return nil
}

// Kinds is the runtime registry as the controller needs it. Lookup resolves
// "family:default" to the family's default kind.
type Kinds interface {
	Lookup(kind string) (runtimes.Runtime, bool)
	Kinds() []string
	Infos() map[string][]runtimes.Info
}

// ExecValidator is implemented by registries that can tell at create time
// that an exec would not run here (a blackbox image this platform cannot
// start); the controller asks it after its own checks.
type ExecValidator interface {
	ValidateExec(e *whisk.Exec) error
}

// Deps are the controller's collaborators.
type Deps struct {
	Store    store.Store
	Invoker  Invoker
	Acceptor Acceptor
	Recorder Recorder     // may be nil until sequences and triggers record through it
	Records  RecordLookup // may be nil: records are then read from the store only
	Feed     RecordFeed   // may be nil: activations cannot be watched then
	Kinds    Kinds
	Now      func() time.Time      // defaults to time.Now
	Logger   *slog.Logger          // defaults to slog.Default()
	Metrics  prometheus.Registerer // may be nil
	// OnChange, when set, is called after every write of an entity through
	// this controller (cluster mode: tell the other controllers, whose caches
	// hold it too; see cluster.go). Invalidations it relays come back
	// through Forget, never through Invalidate.
	OnChange func(path, name string)
	// Controllers, when set, is how many controllers share the namespace
	// throttles (cluster mode); each enforces its share of them.
	Controllers func() int
}

// Controller is the platform's brain behind the API. It is safe for
// concurrent use.
type Controller struct {
	cfg     Config
	store   store.Store
	invoker Invoker
	accept  Acceptor
	// recorder will record what no invoker runs: sequences, trigger fires,
	// activations refused before they ran.
	recorder Recorder
	records  RecordLookup
	feed     RecordFeed
	kinds    Kinds
	now      func() time.Time
	log      *slog.Logger
	met      *metrics

	kindInfo  map[string]runtimes.Info // resolved kind → its manifest entry
	kindNames []string                 // sorted, for the "not supported" message

	auth      *authCache
	entities  *entityCache
	throttles *throttles
	ext       extensions // built-in actions, trigger hooks, fire throttle
	owners    ownerCache // web action owners by namespace
	apis      apiCache   // API gateway routes by namespace

	onChange    func(path, name string) // Deps.OnChange
	controllers func() int
}

// New validates cfg and builds a controller.
func New(cfg Config, deps Deps) (*Controller, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Invoker == nil || deps.Acceptor == nil || deps.Kinds == nil {
		return nil, errors.New("controller: Store, Invoker, Acceptor and Kinds are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	met, err := newMetrics(deps.Metrics)
	if err != nil {
		return nil, err
	}
	c := &Controller{
		cfg:       cfg,
		store:     deps.Store,
		invoker:   deps.Invoker,
		accept:    deps.Acceptor,
		recorder:  deps.Recorder,
		records:   deps.Records,
		feed:      deps.Feed,
		kinds:     deps.Kinds,
		now:       deps.Now,
		log:       deps.Logger,
		met:       met,
		kindInfo:  map[string]runtimes.Info{},
		auth:      newAuthCache(),
		entities:  newEntityCache(cfg.EntityCacheBytes),
		throttles: newThrottles(),

		onChange:    deps.OnChange,
		controllers: deps.Controllers,
	}
	for _, infos := range deps.Kinds.Infos() {
		for _, info := range infos {
			c.kindInfo[info.Kind] = info
		}
	}
	names := append([]string(nil), deps.Kinds.Kinds()...)
	names = append(names, whisk.KindSequence, whisk.KindBlackbox)
	sort.Strings(names)
	c.kindNames = slices.Compact(names)
	return c, nil
}

// Config returns the controller's configuration.
func (c *Controller) Config() Config { return c.cfg }

// Runtimes describes the runtimes for GET /.
func (c *Controller) Runtimes() map[string][]runtimes.Info { return c.kinds.Infos() }

// Ping reports whether the store can serve (readiness).
func (c *Controller) Ping(ctx context.Context) error { return c.store.Ping(ctx) }

// nowMS is the controller's clock in epoch milliseconds.
func (c *Controller) nowMS() int64 { return c.now().UnixMilli() }

// internal wraps an unexpected failure of a collaborator: the client sees
// the generic 500 (no message: the API fills in the default text), the log
// keeps the cause.
func internal(err error) error {
	if err == nil {
		return nil
	}
	var werr *whisk.Error
	if errors.As(err, &werr) {
		return err
	}
	return &whisk.Error{Code: whisk.CodeInternal, Err: err}
}
