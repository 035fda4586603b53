package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gustfaas/gust/internal/api"
	"github.com/gustfaas/gust/internal/bus/inproc"
	"github.com/gustfaas/gust/internal/catalog"
	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/feeds/alarms"
	"github.com/gustfaas/gust/internal/invoker"
	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/sandbox"
	"github.com/gustfaas/gust/internal/sandbox/linux"
	"github.com/gustfaas/gust/internal/sandbox/process"
	"github.com/gustfaas/gust/internal/store/sqlite"
	"github.com/gustfaas/gust/internal/whisk"
)

// serverConfig is everything `gust serve` can be told.
type serverConfig struct {
	Addr     string
	DataDir  string
	APIHost  string // public URL of the API; default http://Addr
	GuestKey string // uuid:secret, replaces the generated guest key
	// CacheDir keeps what is worth keeping across data directories: the
	// runtimes' launchers and Go's build cache (compiling the standard
	// library once, not once per data directory).
	CacheDir string
	Sandbox  string // linux, process or auto (linux when it can run here)
	// CgroupParent names the linux driver's cgroup ("" = its default):
	// invokers sharing a host's cgroups need one each (gust invoker).
	CgroupParent string
	// Network is the default network policy of sandboxes (none, egress,
	// host; "" = egress where the driver supports it, else none).
	Network          string
	AllowHostNetwork bool // actions may ask for network: host
	UserMemoryMB     int
	KeepAlive        time.Duration
	StemCells        map[string]int
	StemCellsMax     int // per kind, kept for recent cold starts beyond StemCells
	ShutdownGrace    time.Duration
	Controller       controller.Config
	Logger           *slog.Logger
	// Alarms tunes the alarm feeds; AlarmClock and AlarmTicks, when set,
	// replace their clock and timer (tests drive time with them).
	Alarms     alarms.Config
	AlarmClock func() time.Time
	AlarmTicks <-chan time.Time
}

func defaultServerConfig() serverConfig {
	return serverConfig{
		Addr:          "127.0.0.1:3233",
		CacheDir:      defaultCacheDir(),
		Sandbox:       "auto",
		UserMemoryMB:  invoker.DefaultConfig().UserMemoryMB,
		KeepAlive:     invoker.DefaultConfig().KeepAlive,
		StemCells:     map[string]int{"nodejs:20": 1, "python:3.11": 1},
		StemCellsMax:  invoker.DefaultConfig().StemCellsMax,
		ShutdownGrace: 30 * time.Second,
		Controller:    controller.DefaultConfig(),
		Alarms:        alarmsConfig(),
	}
}

func alarmsConfig() alarms.Config {
	cfg := alarms.DefaultConfig()
	cfg.Owner = "gust-serve" // one process: a restart takes its leases back
	return cfg
}

// server is a running single-process platform.
type server struct {
	cfg      serverConfig
	ln       net.Listener
	http     *http.Server
	store    *sqlite.Store
	bus      *inproc.Bus
	driver   sandbox.Driver
	recorder *invoker.Recorder
	invoker  *invoker.Invoker
	consumer *invoker.Consumer
	alarms   *alarms.Provider
	guestKey whisk.AuthKey
	keyKnown bool
	served   chan error
}

// startServer opens the store, starts every component and begins serving.
func startServer(ctx context.Context, cfg serverConfig) (_ *server, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.close(context.Background())
		}
	}()
	if s.store, err = sqlite.Open(storePath(cfg.DataDir)); err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	if s.guestKey, s.keyKnown, err = ensureGuest(ctx, s.store, cfg.DataDir, cfg.GuestKey); err != nil {
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, err
	}
	if cfg.APIHost == "" {
		cfg.APIHost = "http://" + s.ln.Addr().String()
		s.cfg.APIHost = cfg.APIHost
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rts, err := runtimes.NewRegistry(runtimes.Config{CacheDir: cfg.CacheDir})
	if err != nil {
		return nil, err
	}
	go func() {
		// Fill the Go build cache in the background: the first compile on an
		// empty cache builds the standard library (tens of seconds).
		if err := rts.WarmUp(context.Background()); err != nil {
			log.Warn("warming up the Go build cache failed", "err", err)
		}
	}()
	if s.driver, err = newDriver(cfg, log); err != nil {
		return nil, err
	}
	s.recorder = invoker.NewRecorder(invoker.DefaultRecorderConfig(), s.store, log)
	icfg := invoker.DefaultConfig()
	icfg.UserMemoryMB = cfg.UserMemoryMB
	icfg.KeepAlive = cfg.KeepAlive
	icfg.Network = defaultNetwork(cfg, s.driver, log)
	icfg.AllowHostNetwork = cfg.AllowHostNetwork
	icfg.WorkDir = filepath.Join(cfg.DataDir, "invoker")
	icfg.APIHost = cfg.APIHost
	icfg.StemCellsMax = cfg.StemCellsMax
	icfg.StemCells = map[string]int{}
	for kind, n := range cfg.StemCells {
		if _, ok := rts.Lookup(kind); ok && n > 0 {
			icfg.StemCells[kind] = n
		}
	}
	if s.invoker, err = invoker.New(icfg, invoker.Deps{
		Driver: s.driver, Runtimes: rts, Recorder: s.recorder, Logger: log, Metrics: reg,
	}); err != nil {
		return nil, err
	}
	s.bus = inproc.New(inproc.Config{Owner: "gust-serve"}, s.store, log)
	s.consumer = invoker.NewConsumer(invoker.DefaultConsumerConfig(), s.bus, s.store, s.invoker, s.recorder, log)

	ctl, err := controller.New(cfg.Controller, controller.Deps{
		Store: s.store, Invoker: s.invoker, Acceptor: invoker.Acceptor{Bus: s.bus},
		Recorder: s.recorder, Records: s.recorder, Kinds: rts, Logger: log, Metrics: reg,
		Feed: s.recorder, // activation streams
	})
	if err != nil {
		return nil, err
	}
	if err := catalog.Install(ctx, catalog.Deps{Store: s.store, Controller: ctl, Logger: log}, catalog.Standard()...); err != nil {
		return nil, err
	}
	if err := s.setupAlarms(ctx, ctl, log); err != nil {
		return nil, err
	}
	handler := api.New(api.Config{}, api.Deps{
		Controller: ctl, Gatherer: reg, Metrics: reg, Logger: log, Build: api.BuildInfo{Version: version, Date: buildDate},
		Ready: func(ctx context.Context) error {
			if err := s.store.Ping(ctx); err != nil {
				return fmt.Errorf("store: %w", err)
			}
			return s.bus.Ping(ctx)
		},
	})
	s.consumer.SetComposer(ctl) // sequences and conductor actions accepted non-blocking
	if err := s.consumer.Start(ctx); err != nil {
		return nil, err
	}
	// After the consumer: what fell due while the server was down fires now.
	if err := s.alarms.Start(ctx); err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    8 << 10,
	}
	s.http.RegisterOnShutdown(handler.CloseStreams) // streams never go idle by themselves
	go func() { s.served <- s.http.Serve(s.ln) }()
	log.Info("gust is serving", "api", cfg.APIHost, "data", cfg.DataDir, "sandbox", s.driver.Name(),
		"network", icfg.Network, "stem_cells", icfg.StemCells)
	return s, nil
}

// newDriver picks the sandbox driver: linux (namespaces, cgroups, seccomp)
// when this process may use it, else process, saying why.
func newDriver(cfg serverConfig, log *slog.Logger) (sandbox.Driver, error) {
	processDriver := func() (sandbox.Driver, error) {
		return process.New(process.Config{WorkRoot: filepath.Join(cfg.DataDir, "sandboxes")})
	}
	switch strings.ToLower(cfg.Sandbox) {
	case "process":
		return processDriver()
	case "", "auto", "linux":
		if err := linux.Available(); err != nil {
			if cfg.Sandbox == "linux" {
				return nil, fmt.Errorf("the linux sandbox driver cannot run here: %w", err)
			}
			log.Warn("functions are NOT isolated: the linux sandbox driver is unavailable, using the process driver", "reason", err)
			return processDriver()
		}
		lcfg := linux.DefaultConfig()
		lcfg.WorkRoot = filepath.Join(cfg.DataDir, "sandboxes")
		// Nothing of the data directory is visible to functions but the
		// prepared code of the action a sandbox runs; the cache holds the
		// runtimes' launchers.
		lcfg.Hidden = []string{cfg.DataDir}
		lcfg.Exposed = []string{filepath.Join(cfg.DataDir, "invoker", "code"), cfg.CacheDir}
		lcfg.Network = invoker.NetworkEgress
		if cfg.CgroupParent != "" {
			lcfg.CgroupParent = cfg.CgroupParent
		}
		d, err := linux.New(lcfg)
		if err != nil {
			if cfg.Sandbox == "linux" {
				return nil, err
			}
			log.Warn("functions are NOT isolated: the linux sandbox driver failed to start, using the process driver", "err", err)
			return processDriver()
		}
		return d, nil
	default:
		return nil, fmt.Errorf("unknown sandbox driver %q (want linux, process or auto)", cfg.Sandbox)
	}
}

// defaultNetwork is the network policy of sandboxes whose action names none:
// the configured one, else egress where the driver can confine it, else none.
// The process driver cannot confine networking at all: "host".
func defaultNetwork(cfg serverConfig, d sandbox.Driver, log *slog.Logger) string {
	ld, ok := d.(*linux.Driver)
	if !ok {
		return invoker.NetworkHost
	}
	egressErr := ld.Egress()
	switch cfg.Network {
	case invoker.NetworkNone, invoker.NetworkHost:
		return cfg.Network
	case invoker.NetworkEgress:
		if egressErr != nil {
			log.Warn("egress networking is unavailable; sandboxes get loopback only", "reason", egressErr)
			return invoker.NetworkNone
		}
		return cfg.Network
	}
	if egressErr != nil {
		log.Info("sandboxes get loopback only: egress networking is unavailable", "reason", egressErr)
		return invoker.NetworkNone
	}
	return invoker.NetworkEgress
}

// Addr is the address the API listens on.
func (s *server) Addr() string { return s.ln.Addr().String() }

// shutdown stops accepting requests, lets running activations finish within
// the grace period, flushes activation records and closes the store.
func (s *server) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownGrace)
	defer cancel()
	var errs []error
	if s.http != nil {
		errs = append(errs, s.http.Shutdown(ctx))
	}
	errs = append(errs, s.close(ctx))
	return errors.Join(errs...)
}

func (s *server) close(ctx context.Context) error {
	var errs []error
	if s.alarms != nil {
		s.alarms.Stop() // no new fires into a stopping platform
	}
	consumerStopped := make(chan struct{})
	go func() {
		// Stops claiming at once; returns when the deliveries in hand are done.
		if s.consumer != nil {
			s.consumer.Stop()
		}
		close(consumerStopped)
	}()
	if s.invoker != nil {
		errs = append(errs, s.invoker.Close(ctx))
	}
	if s.driver != nil {
		// Kills what outlived the grace period, so that nothing waits on it.
		errs = append(errs, s.driver.Close())
	}
	<-consumerStopped
	if s.recorder != nil {
		s.recorder.Close()
	}
	if s.bus != nil {
		errs = append(errs, s.bus.Close())
	}
	if s.ln != nil && s.http == nil {
		s.ln.Close()
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

func defaultCacheDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "gust")
	}
	return filepath.Join(os.TempDir(), "gust-cache")
}

// setupAlarms installs /whisk.system/alarms, whose feed actions are built
// into the controller, and the provider that fires their triggers.
func (s *server) setupAlarms(ctx context.Context, ctl *controller.Controller, log *slog.Logger) error {
	p, err := alarms.New(s.cfg.Alarms, alarms.Deps{
		Store: s.store, Platform: ctl, Logger: log, Now: s.cfg.AlarmClock, Ticks: s.cfg.AlarmTicks,
	})
	if err != nil {
		return err
	}
	for _, name := range alarms.FeedActions {
		ctl.RegisterBuiltin(alarms.ActionFQN(name), p.Feed())
	}
	ctl.OnTriggerDeleted(p.TriggerDeleted)
	s.alarms = p
	return catalog.Install(ctx, catalog.Deps{Store: s.store, Controller: ctl, Logger: log}, alarms.Package(s.cfg.APIHost))
}
