package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/bus/natsbus"
	"github.com/gustfaas/gust/internal/cluster"
	"github.com/gustfaas/gust/internal/invoker"
	"github.com/gustfaas/gust/internal/store/postgres"
)

// Cluster mode (DESIGN §2): `gust controller` ×N behind any HTTP load
// balancer and `gust invoker` ×M, sharing PostgreSQL (--store) and NATS
// JetStream (--bus). This file holds what both commands share.

// clusterConfig is what every cluster process is told.
type clusterConfig struct {
	ID        string // member id: a host name made a subject token
	StoreURL  string // postgres://…
	BusURL    string // nats://host:4222[,nats://…]
	BusPrefix string // first token of every subject; one cluster per prefix
	// Replicas of the work stream: 3 on three NATS hosts in production.
	Replicas     int
	PublishRetry time.Duration
	// ConnectWait bounds how long a starting process waits for PostgreSQL
	// and NATS (they may start together, as in compose).
	ConnectWait time.Duration
	Logger      *slog.Logger
}

func defaultClusterConfig() clusterConfig {
	return clusterConfig{
		ID:           cluster.DefaultID(),
		BusPrefix:    natsbus.DefaultConfig().Prefix,
		Replicas:     1,
		PublishRetry: natsbus.DefaultConfig().PublishRetry,
		ConnectWait:  time.Minute,
	}
}

// addClusterFlags adds the flags every cluster process has.
func addClusterFlags(cmd *cobra.Command, cc *clusterConfig) {
	f := cmd.Flags()
	f.StringVar(&cc.StoreURL, "store", "", "PostgreSQL `URL` of the cluster's store (postgres://user:pass@host:5432/db)")
	f.StringVar(&cc.BusURL, "bus", "", "NATS `URL` of the cluster's bus (nats://host:4222, comma-separated for several servers)")
	f.StringVar(&cc.ID, "id", cc.ID, "this process's `ID` in the cluster: letters, digits, - and _ (default: the host name)")
	f.StringVar(&cc.BusPrefix, "bus-prefix", cc.BusPrefix, "first token of the cluster's NATS subjects; clusters sharing a NATS need different ones")
	f.IntVar(&cc.Replicas, "stream-replicas", cc.Replicas, "replicas of the JetStream work stream: 3 on a 3-node NATS cluster")
	f.DurationVar(&cc.PublishRetry, "publish-retry", cc.PublishRetry, "how long accepting work retries an unavailable NATS before answering 503")
	f.DurationVar(&cc.ConnectWait, "connect-wait", cc.ConnectWait, "at start, how long to wait for PostgreSQL and NATS to answer")
}

func (cc *clusterConfig) check(cmd *cobra.Command) error {
	if cc.StoreURL == "" {
		return usageError(cmd, "--store is required: the PostgreSQL URL shared by the cluster (or GUST_STORE)")
	}
	if !strings.HasPrefix(cc.StoreURL, "postgres://") && !strings.HasPrefix(cc.StoreURL, "postgresql://") {
		return usageError(cmd, "--store %q: cluster mode needs a postgres:// URL", redactURL(cc.StoreURL))
	}
	if cc.BusURL == "" {
		return usageError(cmd, "--bus is required: the NATS URL shared by the cluster (or GUST_BUS)")
	}
	if !cluster.ValidID(cc.ID) {
		return usageError(cmd, "--id %q: use letters, digits, - and _ only (at most 128)", cc.ID)
	}
	return nil
}

// natsConfig is the bus configuration of a process of role.
func (cc *clusterConfig) natsConfig(role string) natsbus.Config {
	cfg := natsbus.DefaultConfig()
	cfg.URL = cc.BusURL
	cfg.Name = "gust-" + role + "-" + cc.ID
	cfg.Prefix = cc.BusPrefix
	cfg.Stream = streamName(cc.BusPrefix)
	cfg.Replicas = cc.Replicas
	cfg.PublishRetry = cc.PublishRetry
	cfg.Log = cc.Logger
	return cfg
}

// streamName is GUST_INVOKE for the default prefix, and derived from any
// other, so that clusters sharing a NATS keep their work apart.
func streamName(prefix string) string {
	if prefix == natsbus.DefaultConfig().Prefix {
		return natsbus.DefaultConfig().Stream
	}
	return strings.ToUpper(strings.NewReplacer("-", "_").Replace(prefix)) + "_INVOKE"
}

// connect opens the store and the bus, retrying while they do not answer
// yet, up to ConnectWait.
func (cc *clusterConfig) connect(ctx context.Context, bcfg natsbus.Config) (*postgres.Store, *natsbus.Bus, error) {
	log := cc.Logger
	deadline := time.Now().Add(cc.ConnectWait)
	retry := func(what string, err error) bool {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		log.Warn("waiting for "+what, "err", err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
			return true
		}
	}
	var st *postgres.Store
	for {
		var err error
		if st, err = postgres.Open(ctx, cc.StoreURL); err == nil {
			break
		}
		if !retry("PostgreSQL", err) {
			return nil, nil, fmt.Errorf("opening the store: %w", err)
		}
	}
	for {
		b, err := natsbus.New(ctx, bcfg)
		if err == nil {
			return st, b, nil
		}
		if !retry("NATS", err) {
			st.Close()
			return nil, nil, fmt.Errorf("connecting to the bus: %w", err)
		}
	}
}

// clusterRecorderConfig writes records without lingering for company:
// PostgreSQL commits from many connections at once, records that arrive
// during a commit form the next batch anyway, and a blocking caller waits
// for the commit (the completion is sent once the record is readable from
// any controller).
func clusterRecorderConfig() invoker.RecorderConfig {
	cfg := invoker.DefaultRecorderConfig()
	cfg.Linger = 0
	return cfg
}

// redactURL hides a URL's password for messages.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return u
	}
	user, _, hasPass := strings.Cut(userinfo, ":")
	if !hasPass {
		return u
	}
	return scheme + "://" + user + ":xxxxx@" + host
}

// parseMemory reads a memory size: 8GiB, 512MiB, 8G, 512M, 512MB or a plain
// number of MB. The result is in MB.
func parseMemory(s string) (int, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mb     float64
	}{{"GiB", 1024}, {"GB", 1024}, {"G", 1024}, {"Gi", 1024}, {"MiB", 1}, {"MB", 1}, {"M", 1}, {"Mi", 1}, {"TiB", 1 << 20}, {"T", 1 << 20}}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mb
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a memory size (e.g. 8GiB, 512MiB, or MB as a number)", s)
	}
	return int(v * mult), nil
}

// serveProbes answers /healthz, /readyz and /metrics of a process without
// the API (an invoker).
func serveProbes(ready func(context.Context) error, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		w.Write([]byte("ok"))
	})
	mux.Handle("GET /metrics", metrics)
	return mux
}

// readyOf checks the store and the bus, naming the one that fails.
func readyOf(st interface{ Ping(context.Context) error }, b interface{ Ping(context.Context) error }) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := st.Ping(ctx); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if err := b.Ping(ctx); err != nil {
			return fmt.Errorf("bus: %w", err)
		}
		return nil
	}
}

// errServed wraps the end of an HTTP server that was not asked to stop.
func errServed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
