package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/api"
	"github.com/gustfaas/gust/internal/bus/natsbus"
	"github.com/gustfaas/gust/internal/catalog"
	"github.com/gustfaas/gust/internal/cluster"
	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/feeds/alarms"
	"github.com/gustfaas/gust/internal/invoker"
	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/store/postgres"
	"github.com/gustfaas/gust/internal/whisk"
)

// controllerConfig is everything `gust controller` can be told.
type controllerConfig struct {
	clusterConfig
	Addr          string
	APIHost       string // public URL of the API (the load balancer's)
	GuestKey      string // uuid:secret: create or re-key the guest namespace
	CacheDir      string
	ShutdownGrace time.Duration
	// InvalidationWait bounds how long a write waits for the other
	// controllers to drop their cached copy.
	InvalidationWait time.Duration
	Controller       controller.Config
}

func defaultControllerConfig() controllerConfig {
	return controllerConfig{
		clusterConfig:    defaultClusterConfig(),
		Addr:             ":3233",
		CacheDir:         defaultCacheDir(),
		ShutdownGrace:    30 * time.Second,
		InvalidationWait: 2 * time.Second,
		Controller:       controller.DefaultConfig(),
	}
}

func newControllerCmd() *cobra.Command {
	cfg := defaultControllerConfig()
	var (
		logLevel, logFormat                    string
		maxTimeout, maxMemory, maxLogs, maxCon int
	)
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run a stateless API controller of a cluster (PostgreSQL + NATS)",
		Long: `Run one controller of a cluster: the OpenWhisk REST API, web actions, sequences,
triggers, rules and alarms, placing activations on the cluster's invokers
(gust invoker) through NATS JetStream and keeping entities and activation
records in PostgreSQL. Controllers share nothing else: run as many as needed
behind any HTTP load balancer.

Every flag can also be set as GUST_<FLAG> in the environment (GUST_STORE,
GUST_BUS, ...) or as <flag>: value in a YAML file given with --config.`,
		Example: `  gust controller --addr :3233 --store postgres://gust:secret@db:5432/gust --bus nats://nats:4222
  GUST_STORE=postgres://… GUST_BUS=nats://… gust controller --api-host https://functions.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.check(cmd); err != nil {
				return err
			}
			cfg.Controller.TimeoutMS.Max = maxTimeout
			cfg.Controller.MemoryMB.Max = maxMemory
			cfg.Controller.LogsMB.Max = maxLogs
			cfg.Controller.Concurrency.Max = maxCon
			var err error
			if cfg.Logger, err = newLogger(cmd.ErrOrStderr(), logLevel, logFormat); err != nil {
				return err
			}
			return runController(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	addClusterFlags(cmd, &cfg.clusterConfig)
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "`host:port` the API listens on")
	f.StringVar(&cfg.APIHost, "api-host", "", "public `URL` of the API (the load balancer), given to functions as __OW_API_HOST")
	f.StringVar(&cfg.GuestKey, "guest-key", "", "create the guest namespace with this `uuid:secret` key, or give it this key")
	f.StringVar(&cfg.CacheDir, "cache-dir", cfg.CacheDir, "`DIR` for runtime launchers (kinds are checked against this machine's runtimes)")
	f.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", cfg.ShutdownGrace, "on SIGTERM, how long requests in progress may finish")
	f.DurationVar(&cfg.InvalidationWait, "invalidation-wait", cfg.InvalidationWait, "how long an entity write waits for the other controllers to drop their cached copy")
	c := &cfg.Controller
	f.IntVar(&c.InvocationsPerMinute, "invocations-per-minute", c.InvocationsPerMinute, "default per-namespace invocations per minute, for the whole cluster (0 = unlimited)")
	f.IntVar(&c.ConcurrentInvocations, "concurrent-invocations", c.ConcurrentInvocations, "default per-namespace concurrent invocations, for the whole cluster (0 = unlimited)")
	f.IntVar(&c.FiresPerMinute, "fires-per-minute", c.FiresPerMinute, "default per-namespace trigger fires per minute, for the whole cluster (0 = unlimited)")
	f.DurationVar(&c.EntityCacheTTL, "entity-cache-ttl", c.EntityCacheTTL, "longest a cached entity is used without reading the store (bounds staleness if an invalidation is lost)")
	f.IntVar(&maxTimeout, "max-action-timeout", c.TimeoutMS.Max, "largest action timeout in `ms`")
	f.IntVar(&maxMemory, "max-action-memory", c.MemoryMB.Max, "largest action memory limit in `MB`")
	f.IntVar(&maxLogs, "max-action-logs", c.LogsMB.Max, "largest action log limit in `MB`")
	f.IntVar(&maxCon, "max-action-concurrency", c.Concurrency.Max, "largest number of activations one sandbox may run at once")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return withConfig(cmd)
}

// clusterController is a running `gust controller`.
type clusterController struct {
	cfg      controllerConfig
	log      *slog.Logger
	store    *postgres.Store
	bus      *natsbus.Bus
	node     *cluster.Node
	client   *cluster.Client
	caches   *cluster.Caches
	feed     *cluster.Feed
	relay    *cluster.Relay
	recorder *invoker.Recorder
	alarms   *alarms.Provider
	ln       net.Listener
	http     *http.Server
	served   chan error
}

// startController connects to the cluster and begins serving the API.
func startController(ctx context.Context, cfg controllerConfig) (_ *clusterController, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
		cfg.Logger = log
	}
	log = log.With("controller", cfg.ID)
	s := &clusterController{cfg: cfg, log: log, served: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.close(context.Background())
		}
	}()
	if s.store, s.bus, err = cfg.connect(ctx, cfg.natsConfig(cluster.RoleController)); err != nil {
		return nil, err
	}
	if cfg.GuestKey != "" {
		if _, _, err := ensureGuest(ctx, s.store, "", cfg.GuestKey); err != nil {
			return nil, err
		}
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

	var feed atomic.Pointer[cluster.Feed]
	ncfg := cluster.DefaultNodeConfig(cluster.RoleController, cfg.ID)
	ncfg.Version, ncfg.Log = version, log
	if s.node, err = cluster.StartNode(ncfg, s.bus, func(hb *cluster.Heartbeat) {
		if f := feed.Load(); f != nil {
			hb.Watchers = f.Watchers()
		}
	}); err != nil {
		return nil, err
	}
	members := s.node.Members()
	s.recorder = invoker.NewRecorder(clusterRecorderConfig(), s.store, log)
	if s.feed, err = cluster.StartFeed(s.bus, s.store, s.node.Beat, log); err != nil {
		return nil, err
	}
	feed.Store(s.feed)
	s.relay = cluster.StartRelay(s.bus, members, s.recorder, log)

	var caches atomic.Pointer[cluster.Caches]
	var ctl *controller.Controller
	ccfg := cluster.DefaultClientConfig(cluster.RoleController, cfg.ID)
	ccfg.Log = log
	if s.client, err = cluster.NewClient(ccfg, s.bus, members, s.store, func(a *whisk.Action) bool { return ctl.Composes(a) }); err != nil {
		return nil, err
	}
	ctl, err = controller.New(cfg.Controller, controller.Deps{
		Store: cluster.Unavailable(s.store), Invoker: s.client, Acceptor: s.client,
		Recorder: s.recorder, Records: s.recorder, Feed: s.feed, Kinds: rts, Logger: log, Metrics: reg,
		OnChange: func(path, name string) {
			if c := caches.Load(); c != nil {
				c.Changed(path, name)
			}
		},
		Controllers: func() int { return members.Count(cluster.RoleController) },
	})
	if err != nil {
		return nil, err
	}
	if s.caches, err = cluster.StartCaches(s.bus, members, cfg.ID, ctl, cfg.InvalidationWait, log); err != nil {
		return nil, err
	}
	caches.Store(s.caches)
	if err := catalog.Install(ctx, catalog.Deps{Store: s.store, Controller: ctl, Logger: log}, catalog.Standard()...); err != nil {
		return nil, err
	}
	if err := s.setupAlarms(ctx, ctl); err != nil {
		return nil, err
	}
	handler := api.New(api.Config{}, api.Deps{
		Controller: ctl, Gatherer: reg, Metrics: reg, Logger: log, Build: api.BuildInfo{Version: version, Date: buildDate},
		Ready: readyOf(s.store, s.bus),
	})
	if err := s.alarms.Start(ctx); err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    8 << 10,
	}
	s.http.RegisterOnShutdown(handler.CloseStreams)
	go func() { s.served <- s.http.Serve(s.ln) }()
	log.Info("gust controller is serving", "api", cfg.APIHost, "store", redactURL(cfg.StoreURL), "bus", redactURL(cfg.BusURL))
	return s, nil
}

// setupAlarms runs the alarm feeds here too: every controller competes for
// due schedules with a lease in PostgreSQL, so each fires in one of them.
func (s *clusterController) setupAlarms(ctx context.Context, ctl *controller.Controller) error {
	acfg := alarms.DefaultConfig()
	acfg.Owner = "controller-" + s.cfg.ID // kept across restarts: a restart takes its leases back
	p, err := alarms.New(acfg, alarms.Deps{Store: s.store, Platform: ctl, Logger: s.log})
	if err != nil {
		return err
	}
	for _, name := range alarms.FeedActions {
		ctl.RegisterBuiltin(alarms.ActionFQN(name), p.Feed())
	}
	ctl.OnTriggerDeleted(p.TriggerDeleted)
	s.alarms = p
	return catalog.Install(ctx, catalog.Deps{Store: s.store, Controller: ctl, Logger: s.log}, alarms.Package(s.cfg.APIHost))
}

// Addr is the address the API listens on.
func (s *clusterController) Addr() string { return s.ln.Addr().String() }

// shutdown leaves the cluster, finishes the requests in progress within
// the grace period and closes everything.
func (s *clusterController) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownGrace)
	defer cancel()
	if s.node != nil {
		s.node.Leave()
	}
	var errs []error
	if s.http != nil {
		errs = append(errs, s.http.Shutdown(ctx))
	}
	errs = append(errs, s.close(ctx))
	return errors.Join(errs...)
}

func (s *clusterController) close(context.Context) error {
	var errs []error
	if s.alarms != nil {
		s.alarms.Stop()
	}
	if s.client != nil {
		s.client.Close()
	}
	if s.recorder != nil {
		s.recorder.Close()
	}
	if s.relay != nil {
		s.relay.Stop()
	}
	if s.feed != nil {
		s.feed.Stop()
	}
	if s.caches != nil {
		s.caches.Stop()
	}
	if s.node != nil {
		s.node.Stop()
	}
	if s.ln != nil && s.http == nil {
		s.ln.Close()
	}
	if s.bus != nil {
		errs = append(errs, s.bus.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// runController serves until SIGINT or SIGTERM.
func runController(ctx context.Context, cfg controllerConfig, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := startController(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "gust controller %s is serving on http://%s (API host %s)\n", cfg.ID, s.Addr(), s.cfg.APIHost)
	select {
	case <-ctx.Done():
	case err := <-s.served:
		if err := errServed(err); err != nil {
			cfg.Logger.Error("the API server stopped", "err", err)
		}
	}
	stop()
	cfg.Logger.Info("shutting down: finishing requests in progress", "grace", cfg.ShutdownGrace)
	return s.shutdown(context.Background())
}
