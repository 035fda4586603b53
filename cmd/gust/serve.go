package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func newServeCmd() *cobra.Command {
	cfg := defaultServerConfig()
	var (
		stemCells  string
		logLevel   string
		logFormat  string
		maxTimeout int
		maxMemory  int
		maxLogs    int
		maxConc    int
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the whole platform in one process",
		Long: `Run the whole platform in one process: the OpenWhisk REST API, the
controller, the invoker with its warm pool and stem cells, and an embedded
SQLite store in the data directory. Nothing else needs to be running.

On first start a namespace "guest" is created with a random API key, which
is kept in the data directory and printed at every start together with the
line that points wsk (or gust) at this server.

Every flag can also be set as GUST_<FLAG> in the environment (for example
GUST_ADDR, GUST_GUEST_KEY=uuid:secret) or as <flag>: value in a YAML file
given with --config; flags win over the environment, which wins over the file.`,
		Example: `  gust serve
  gust serve --addr 0.0.0.0:3233 --data /var/lib/gust
  gust serve --invocations-per-minute 0 --concurrent-invocations 0   # no throttling`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.StemCells, err = parseStemCells(stemCells); err != nil {
				return err
			}
			cfg.Controller.TimeoutMS.Max = maxTimeout
			cfg.Controller.MemoryMB.Max = maxMemory
			cfg.Controller.LogsMB.Max = maxLogs
			cfg.Controller.Concurrency.Max = maxConc
			if cfg.Logger, err = newLogger(cmd.ErrOrStderr(), logLevel, logFormat); err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "`host:port` the API listens on")
	f.StringVar(&cfg.DataDir, "data", defaultDataDir(), "`DIR` for the store, the guest key and prepared code")
	f.StringVar(&cfg.CacheDir, "cache-dir", cfg.CacheDir, "`DIR` for runtime launchers and the Go build cache, shared across data directories")
	f.StringVar(&cfg.APIHost, "api-host", "", "public `URL` of this API, given to functions as __OW_API_HOST (default http://<addr>)")
	f.StringVar(&cfg.GuestKey, "guest-key", "", "API key `uuid:secret` of the guest namespace (default: random on first start)")
	f.StringVar(&cfg.Sandbox, "sandbox", cfg.Sandbox, "sandbox driver: linux (namespaces, cgroups, seccomp; needs root), process (no isolation), or auto")
	f.StringVar(&cfg.Network, "network", "", "default network policy of sandboxes: none, egress or host (default egress where supported, else none)")
	f.BoolVar(&cfg.AllowHostNetwork, "allow-host-network", false, "let actions ask for the host's network (annotation network: host); trusted operators only")
	f.IntVar(&cfg.UserMemoryMB, "user-memory", cfg.UserMemoryMB, "memory in `MB` for all sandboxes together; work waits when it is full")
	f.DurationVar(&cfg.KeepAlive, "keep-alive", cfg.KeepAlive, "idle warm sandboxes are removed after this")
	f.StringVar(&stemCells, "stem-cells", formatStemCells(cfg.StemCells), "prewarmed sandboxes per kind, `kind=N,...` (empty for none)")
	f.IntVar(&cfg.StemCellsMax, "stem-cells-max", cfg.StemCellsMax, "per kind, up to `N` stem cells kept for the last minute's cold starts, in memory no sandbox needs (0: only --stem-cells)")
	f.DurationVar(&cfg.ShutdownGrace, "shutdown-grace", cfg.ShutdownGrace, "on SIGTERM, how long running activations may finish")
	c := &cfg.Controller
	f.IntVar(&c.InvocationsPerMinute, "invocations-per-minute", c.InvocationsPerMinute, "default per-namespace invocations per minute (0 = unlimited)")
	f.IntVar(&c.ConcurrentInvocations, "concurrent-invocations", c.ConcurrentInvocations, "default per-namespace concurrent invocations (0 = unlimited)")
	f.IntVar(&c.FiresPerMinute, "fires-per-minute", c.FiresPerMinute, "default per-namespace trigger fires per minute (0 = unlimited)")
	f.IntVar(&maxTimeout, "max-action-timeout", c.TimeoutMS.Max, "largest action timeout in `ms`")
	f.IntVar(&maxMemory, "max-action-memory", c.MemoryMB.Max, "largest action memory limit in `MB`")
	f.IntVar(&maxLogs, "max-action-logs", c.LogsMB.Max, "largest action log limit in `MB`")
	f.IntVar(&maxConc, "max-action-concurrency", c.Concurrency.Max, "largest number of activations one sandbox may run at once")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

// serve runs the platform until SIGINT or SIGTERM, then shuts down gracefully.
func serve(ctx context.Context, cfg serverConfig, out io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	srv, err := startServer(ctx, cfg)
	if err != nil {
		return err
	}
	printBanner(out, srv, time.Since(started))
	select {
	case <-ctx.Done():
	case err := <-srv.served:
		cfg.Logger.Error("the API server stopped", "err", err)
	}
	stop()
	cfg.Logger.Info("shutting down: finishing running activations", "grace", cfg.ShutdownGrace)
	return srv.shutdown(context.Background())
}

func printBanner(out io.Writer, srv *server, took time.Duration) {
	fmt.Fprintf(out, "Gust is running on %s (started in %s, data in %s)\n", srv.cfg.APIHost,
		took.Round(time.Millisecond), srv.cfg.DataDir)
	if !srv.keyKnown {
		fmt.Fprintf(out, "The guest key was rotated; use the key `gust admin key rotate guest` printed.\n")
		return
	}
	fmt.Fprintf(out, "Namespace: guest\nAPI key:   %s\n\nPoint wsk or gust at it:\n  %s\n  %s\n\n",
		srv.guestKey, wskPropertyLine(srv.cfg.APIHost, srv.guestKey),
		strings.Replace(wskPropertyLine(srv.cfg.APIHost, srv.guestKey), "wsk ", "gust ", 1))
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// parseStemCells reads "nodejs:20=2,python:3.11=1".
func parseStemCells(s string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		kind, n, ok := strings.Cut(part, "=")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count < 0 {
			return nil, fmt.Errorf("--stem-cells %q: want kind=count, for example nodejs:20=2", part)
		}
		out[strings.TrimSpace(kind)] = count
	}
	return out, nil
}

func formatStemCells(m map[string]int) string {
	var parts []string
	for _, kind := range []string{"nodejs:20", "python:3.11"} {
		if n, ok := m[kind]; ok {
			parts = append(parts, fmt.Sprintf("%s=%d", kind, n))
		}
	}
	return strings.Join(parts, ",")
}
