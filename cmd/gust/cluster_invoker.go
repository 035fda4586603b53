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
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/bus/natsbus"
	"github.com/gustfaas/gust/internal/cluster"
	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/invoker"
	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/sandbox"
	"github.com/gustfaas/gust/internal/store/postgres"
	"github.com/gustfaas/gust/internal/whisk"
)

// invokerConfig is everything `gust invoker` can be told.
type invokerConfig struct {
	clusterConfig
	Addr          string // /healthz, /readyz, /metrics; "" for none
	DataDir       string
	CacheDir      string
	APIHost       string
	Sandbox       string
	Network       string // default network policy of sandboxes; see serve
	AllowHostNet  bool
	UserMemoryMB  int
	KeepAlive     time.Duration
	StemCells     map[string]int
	StemCellsMax  int
	Slots         int // deliveries held at once, per queue consumed
	AckWait       time.Duration
	MaxDeliver    int
	ShutdownGrace time.Duration
}

func defaultInvokerConfig() invokerConfig {
	return invokerConfig{
		clusterConfig: defaultClusterConfig(),
		Addr:          ":3234",
		CacheDir:      defaultCacheDir(),
		Sandbox:       "auto",
		UserMemoryMB:  invoker.DefaultConfig().UserMemoryMB,
		KeepAlive:     invoker.DefaultConfig().KeepAlive,
		StemCells:     map[string]int{"nodejs:20": 1, "python:3.11": 1},
		StemCellsMax:  invoker.DefaultConfig().StemCellsMax,
		Slots:         invoker.DefaultConsumerConfig().Concurrency,
		AckWait:       natsbus.DefaultConfig().AckWait,
		MaxDeliver:    invoker.DefaultConsumerConfig().MaxDeliver,
		ShutdownGrace: 30 * time.Second,
	}
}

func newInvokerCmd() *cobra.Command {
	cfg := defaultInvokerConfig()
	var memory, stemCells, logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "invoker",
		Short: "Run an invoker of a cluster: sandboxes for the work the controllers place here",
		Long: `Run one invoker of a cluster: it runs the activations the controllers (gust
controller) place on it, in sandboxes on this machine, and writes their records
to PostgreSQL. It announces itself and its free memory on NATS every second;
work queued for an invoker that stops or dies is taken over by another.

/healthz, /readyz and /metrics are served on --addr.

Every flag can also be set as GUST_<FLAG> in the environment (GUST_STORE,
GUST_BUS, GUST_MEMORY, ...) or as <flag>: value in a YAML file given with --config.`,
		Example: `  gust invoker --store postgres://gust:secret@db:5432/gust --bus nats://nats:4222 --memory 8GiB`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.check(cmd); err != nil {
				return err
			}
			var err error
			if cfg.UserMemoryMB, err = parseMemory(memory); err != nil {
				return usageError(cmd, "--memory: %v", err)
			}
			if cfg.StemCells, err = parseStemCells(stemCells); err != nil {
				return usageError(cmd, "--stem-cells: %v", err)
			}
			if cfg.DataDir == "" {
				cfg.DataDir = filepath.Join(defaultDataDir(), "invoker-"+cfg.ID)
			}
			if cfg.Logger, err = newLogger(cmd.ErrOrStderr(), logLevel, logFormat); err != nil {
				return err
			}
			return runInvoker(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	addClusterFlags(cmd, &cfg.clusterConfig)
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "`host:port` of /healthz, /readyz and /metrics (empty: none)")
	f.StringVar(&cfg.DataDir, "data", "", "`DIR` for prepared code and sandboxes (default: <data dir>/invoker-<id>)")
	f.StringVar(&cfg.CacheDir, "cache-dir", cfg.CacheDir, "`DIR` for runtime launchers and the Go build cache")
	f.StringVar(&cfg.APIHost, "api-host", "", "public `URL` of the API (the load balancer), given to functions as __OW_API_HOST")
	f.StringVar(&cfg.Sandbox, "sandbox", cfg.Sandbox, "sandbox driver: linux, process or auto (linux where it can run)")
	f.StringVar(&cfg.Network, "network", "", "default network policy of sandboxes: none, egress or host (default egress where supported, else none)")
	f.BoolVar(&cfg.AllowHostNet, "allow-host-network", false, "let actions ask for the host's network (annotation network: host); trusted operators only")
	f.StringVar(&memory, "memory", fmt.Sprintf("%dMiB", cfg.UserMemoryMB), "memory for all sandboxes together (8GiB, 512MiB, or MB); work waits when it is full")
	f.DurationVar(&cfg.KeepAlive, "keep-alive", cfg.KeepAlive, "idle warm sandboxes are removed after this")
	f.StringVar(&stemCells, "stem-cells", formatStemCells(cfg.StemCells), "prewarmed sandboxes per kind, `kind=N,...` (empty for none)")
	f.IntVar(&cfg.StemCellsMax, "stem-cells-max", cfg.StemCellsMax, "per kind, up to `N` stem cells kept for the last minute's cold starts, in memory no sandbox needs (0: only --stem-cells)")
	f.IntVar(&cfg.Slots, "slots", cfg.Slots, "activations taken from the queue at once (they then wait here for memory)")
	f.DurationVar(&cfg.AckWait, "ack-wait", cfg.AckWait, "how long work taken by an invoker that stopped answering waits before it is delivered again")
	f.IntVar(&cfg.MaxDeliver, "max-deliver", cfg.MaxDeliver, "deliveries of one activation before it is recorded as a whisk internal error")
	f.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", cfg.ShutdownGrace, "on SIGTERM, how long running activations may finish")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return withConfig(cmd)
}

// busConfig is the invoker's bus: the consumer settings of RELIABILITY.md
// scaled to AckWait. JetStream never delivers a message past MaxDeliver, so
// the consumer's "delivered more than MaxDeliver times → whisk internal
// error record" needs one delivery more than it allows (P4).
func (cfg invokerConfig) busConfig() natsbus.Config {
	bcfg := cfg.natsConfig(cluster.RoleInvoker)
	a := cfg.AckWait
	bcfg.AckWait = a
	bcfg.BackOff = []time.Duration{a, 2 * a, 4 * a, 10 * a}
	bcfg.MaxDeliver = max(cfg.MaxDeliver, len(bcfg.BackOff)) + 1
	return bcfg
}

// clusterInvoker is a running `gust invoker`.
type clusterInvoker struct {
	cfg      invokerConfig
	log      *slog.Logger
	store    *postgres.Store
	bus      *natsbus.Bus
	node     *cluster.Node
	client   *cluster.Client
	driver   sandbox.Driver
	recorder *invoker.Recorder
	invoker  *invoker.Invoker
	consumer *invoker.Consumer
	adopter  *cluster.Adopter
	relay    *cluster.Relay
	stopAdopt,
	stopCount context.CancelFunc
	adoptDone chan struct{}
	ln        net.Listener
	http      *http.Server
}

// startInvoker connects to the cluster and begins taking work.
func startInvoker(ctx context.Context, cfg invokerConfig) (_ *clusterInvoker, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
		cfg.Logger = log
	}
	log = log.With("invoker", cfg.ID)
	s := &clusterInvoker{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.close(context.Background())
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	bcfg := cfg.busConfig()
	if s.store, s.bus, err = cfg.connect(ctx, bcfg); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rts, err := runtimes.NewRegistry(runtimes.Config{CacheDir: cfg.CacheDir})
	if err != nil {
		return nil, err
	}
	// The sandbox driver as gust serve picks it.
	scfg := serverConfig{Sandbox: cfg.Sandbox, DataDir: cfg.DataDir, CacheDir: cfg.CacheDir, Network: cfg.Network,
		CgroupParent: "gust-" + cfg.ID} // invokers may share a host's cgroups (compose with cgroup: host)
	if s.driver, err = newDriver(scfg, log); err != nil {
		return nil, err
	}
	s.recorder = invoker.NewRecorder(clusterRecorderConfig(), s.store, log)
	icfg := invoker.DefaultConfig()
	icfg.UserMemoryMB = cfg.UserMemoryMB
	icfg.KeepAlive = cfg.KeepAlive
	icfg.Network = defaultNetwork(scfg, s.driver, log)
	icfg.AllowHostNetwork = cfg.AllowHostNet
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

	// Records committed here, for `gust admin invokers`.
	var done atomic.Uint64
	records, stopCount := s.recorder.Subscribe("")
	s.stopCount = stopCount
	go func() {
		for range records {
			done.Add(1)
		}
	}()
	var adopter atomic.Pointer[cluster.Adopter]
	ncfg := cluster.DefaultNodeConfig(cluster.RoleInvoker, cfg.ID)
	ncfg.Version, ncfg.Log = version, log
	s.node, err = cluster.StartNode(ncfg, s.bus, func(hb *cluster.Heartbeat) {
		st := s.invoker.Stats()
		hb.UserMB, hb.UsedMB, hb.Busy, hb.Warm, hb.StemCells = st.UserMemoryMB, st.UsedMemoryMB, st.Busy, st.Warm, st.StemCells
		hb.Activations = done.Load()
		if a := adopter.Load(); a != nil {
			hb.Adopted = a.Adopted()
		}
	})
	if err != nil {
		return nil, err
	}
	members := s.node.Members()
	s.relay = cluster.StartRelay(s.bus, members, s.recorder, log)

	// Compositions accepted non-blocking run where their message is
	// consumed: here, with a controller of their own whose components are
	// placed on the cluster like any activation. It caches nothing, so that
	// no invalidation concerns it.
	var ctl *controller.Controller
	ccfg := cluster.DefaultClientConfig(cluster.RoleInvoker, cfg.ID)
	ccfg.Log = log
	if s.client, err = cluster.NewClient(ccfg, s.bus, members, s.store, func(a *whisk.Action) bool { return ctl.Composes(a) }); err != nil {
		return nil, err
	}
	ctlCfg := controller.DefaultConfig()
	ctlCfg.EntityCacheBytes = 0
	ctlCfg.InvocationsPerMinute, ctlCfg.ConcurrentInvocations, ctlCfg.FiresPerMinute = 0, 0, 0
	if ctl, err = controller.New(ctlCfg, controller.Deps{
		Store: s.store, Invoker: s.client, Acceptor: s.client, Recorder: s.recorder, Records: s.recorder,
		Kinds: rts, Logger: log,
	}); err != nil {
		return nil, err
	}

	maxPayload := s.bus.MaxPayload()
	newConsumer := func(subject string) *invoker.Consumer {
		c := invoker.NewConsumer(invoker.ConsumerConfig{Subject: subject, Concurrency: cfg.Slots, MaxDeliver: cfg.MaxDeliver},
			s.bus, s.store, s.invoker, s.recorder, log)
		c.SetComposer(ctl)
		c.SetCompleted(func(msg *whisk.ActivationMessage, act *whisk.Activation) {
			if err := s.bus.Reply(msg.ReplyTo, cluster.EncodeCompletion(act, maxPayload)); err != nil {
				log.Debug("completion not sent; the controller reads the store", "activation", act.ActivationID, "err", err)
			}
		})
		return c
	}
	s.consumer = newConsumer(cluster.InvokeSubject(cfg.ID))
	if err := s.consumer.Start(ctx); err != nil {
		return nil, err
	}
	acfg := cluster.DefaultAdopterConfig(cfg.ID)
	acfg.Log = log
	s.adopter = cluster.NewAdopter(acfg, s.bus, members, func(subject string) (func(), error) {
		c := newConsumer(subject)
		if err := c.Start(context.Background()); err != nil {
			return nil, err
		}
		return c.Stop, nil
	})
	adopter.Store(s.adopter)
	actx, cancel := context.WithCancel(context.Background())
	s.stopAdopt, s.adoptDone = cancel, make(chan struct{})
	go func() { defer close(s.adoptDone); s.adopter.Run(actx) }()

	if cfg.Addr != "" {
		if s.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return nil, err
		}
		s.http = &http.Server{
			Handler:           serveProbes(readyOf(s.store, s.bus), promhttp.HandlerFor(reg, promhttp.HandlerOpts{})),
			ReadHeaderTimeout: 10 * time.Second,
		}
		go s.http.Serve(s.ln)
	}
	s.node.Beat() // ready: announce the consumer at once
	log.Info("gust invoker is running", "memory_mb", cfg.UserMemoryMB, "sandbox", s.driver.Name(), "network", icfg.Network,
		"store", redactURL(cfg.StoreURL), "bus", redactURL(cfg.BusURL), "stem_cells", icfg.StemCells)
	return s, nil
}

// Addr is the address of the probes ("" without them).
func (s *clusterInvoker) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// shutdown leaves the cluster (nothing new is placed here, and the queue is
// adopted at once), finishes the running activations within the grace
// period, writes their records and closes everything. What is still queued
// stays in the stream for the invoker that adopts it or for this one's
// restart.
func (s *clusterInvoker) shutdown(ctx context.Context) error {
	if s.node != nil {
		s.node.Leave()
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownGrace)
	defer cancel()
	return s.close(ctx)
}

func (s *clusterInvoker) close(ctx context.Context) error {
	var errs []error
	if s.stopAdopt != nil {
		s.stopAdopt()
	}
	stopped := make(chan struct{})
	go func() {
		if s.consumer != nil {
			s.consumer.Stop()
		}
		if s.adoptDone != nil {
			<-s.adoptDone // the adopted queues' consumers are stopped too
		}
		close(stopped)
	}()
	if s.invoker != nil {
		errs = append(errs, s.invoker.Close(ctx))
	}
	if s.driver != nil {
		errs = append(errs, s.driver.Close())
	}
	<-stopped
	if s.client != nil {
		s.client.Close()
	}
	if s.recorder != nil {
		s.recorder.Close() // the records, then the acks (P3)
	}
	if s.stopCount != nil {
		s.stopCount()
	}
	if s.relay != nil {
		s.relay.Stop()
	}
	if s.http != nil {
		s.http.Close()
	}
	if s.node != nil {
		s.node.Stop()
	}
	if s.bus != nil {
		errs = append(errs, s.bus.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// runInvoker runs until SIGINT or SIGTERM.
func runInvoker(ctx context.Context, cfg invokerConfig, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := startInvoker(ctx, cfg)
	if err != nil {
		return err
	}
	probes := "none"
	if a := s.Addr(); a != "" {
		probes = "http://" + a
	}
	fmt.Fprintf(out, "gust invoker %s is running with %d MB for sandboxes (probes %s)\n", cfg.ID, cfg.UserMemoryMB, probes)
	<-ctx.Done()
	stop()
	cfg.Logger.Info("shutting down: finishing running activations", "grace", cfg.ShutdownGrace)
	return s.shutdown(context.Background())
}
