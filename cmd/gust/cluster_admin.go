package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/bus/natsbus"
	"github.com/gustfaas/gust/internal/cluster"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/store/postgres"
)

// clusterAdmin holds the admin flags that reach a cluster: --store makes the
// namespace commands work on its PostgreSQL instead of a data directory,
// and --bus lets `gust admin invokers` ask the cluster for its members.
type clusterAdmin struct {
	storeURL  string
	busURL    string
	busPrefix string
	wait      time.Duration
}

func (ca *clusterAdmin) addFlags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&ca.storeURL, "store", "", "PostgreSQL `URL` of a cluster's store; replaces --data")
	pf.StringVar(&ca.busURL, "bus", "", "NATS `URL` of a cluster's bus (admin invokers, admin controllers)")
	pf.StringVar(&ca.busPrefix, "bus-prefix", natsbus.DefaultConfig().Prefix, "first token of the cluster's NATS subjects")
}

func (ca *clusterAdmin) openStore() (store.Store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, ca.storeURL)
	if err != nil {
		return nil, fmt.Errorf("open the store %s: %w", redactURL(ca.storeURL), err)
	}
	return announcingStore{Store: st, ca: ca}, nil
}

// announcingStore tells the cluster's controllers, when --bus is given, of
// each namespace it changes or deletes, so that a rotated key stops working
// and new limits apply at once instead of within the controllers'
// authentication cache TTL.
type announcingStore struct {
	store.Store
	ca *clusterAdmin
}

func (s announcingStore) UpdateNamespace(ctx context.Context, ns store.Namespace) error {
	if err := s.Store.UpdateNamespace(ctx, ns); err != nil {
		return err
	}
	s.ca.announce(ctx, ns.Name)
	return nil
}

func (s announcingStore) DeleteNamespace(ctx context.Context, name string) error {
	if err := s.Store.DeleteNamespace(ctx, name); err != nil {
		return err
	}
	s.ca.announce(ctx, name)
	return nil
}

// announce tells the controllers that namespace ns changed; the change is
// made either way, and without it takes effect within seconds.
func (ca *clusterAdmin) announce(ctx context.Context, ns string) {
	if ca.busURL == "" {
		return
	}
	b, err := ca.dial(ctx)
	if err == nil {
		defer b.Close()
		_, err = cluster.NamespaceChanged(ctx, b, ns, time.Second)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: the controllers were not told of the change (%v); they apply it within seconds\n", err)
	}
}

func (ca *clusterAdmin) dial(ctx context.Context) (*natsbus.Bus, error) {
	cfg := natsbus.DefaultConfig()
	cfg.URL, cfg.Name, cfg.Prefix, cfg.Stream = ca.busURL, "gust-admin", ca.busPrefix, streamName(ca.busPrefix)
	b, err := natsbus.Dial(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the bus: %w", err)
	}
	return b, nil
}

// members asks the cluster for its table.
func (ca *clusterAdmin) members(ctx context.Context) ([]cluster.Member, error) {
	if ca.busURL == "" {
		return nil, &exitError{code: exitUsage, err: fmt.Errorf("--bus is required: the NATS URL of the cluster (or GUST_BUS)")}
	}
	b, err := ca.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return cluster.Status(ctx, b, ca.wait)
}

// memberView is a member as admin shows it.
type memberView struct {
	cluster.Member
	SecondsSinceHeartbeat float64 `json:"secondsSinceHeartbeat"`
}

func (a *app) newAdminInvokersCmd(ca *clusterAdmin) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "invokers",
		Short: "List a cluster's invokers: health, memory in use, warm sandboxes, last heartbeat",
		Long: `List the invokers of a cluster as its members see them: each member that
answers within --wait sends its table (a member's health is what its heartbeats
say: healthy, stopping after a graceful stop, offline after 10 s of silence),
and the freshest news of each invoker is shown. MEMORY is the memory held by
sandboxes out of the invoker's --memory; BUSY counts activations running or
waiting for memory; ACTIVATIONS those recorded since the invoker started.`,
		Example: `  gust admin invokers --bus nats://nats:4222
  GUST_BUS=nats://nats:4222 gust admin invokers -o json`,
		Args: argsBetween(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.listMembers(cmd.Context(), ca, cluster.RoleInvoker)
		},
	}
	cmd.Flags().DurationVar(&ca.wait, "wait", 1500*time.Millisecond, "how long to collect the members' answers")
	return cmd
}

func (a *app) newAdminControllersCmd(ca *clusterAdmin) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "controllers",
		Short: "List a cluster's controllers and their health",
		Args:  argsBetween(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.listMembers(cmd.Context(), ca, cluster.RoleController)
		},
	}
	cmd.Flags().DurationVar(&ca.wait, "wait", 1500*time.Millisecond, "how long to collect the members' answers")
	return cmd
}

func (a *app) listMembers(ctx context.Context, ca *clusterAdmin, role string) error {
	all, err := ca.members(ctx)
	if err != nil {
		return err
	}
	views := []memberView{}
	for _, m := range all {
		if m.Role == role {
			views = append(views, memberView{Member: m, SecondsSinceHeartbeat: m.Age.Seconds()})
		}
	}
	return a.emitValue(views, func(w io.Writer) error {
		if len(views) == 0 {
			fmt.Fprintf(w, "no %s has sent a heartbeat\n", role)
			return nil
		}
		t := newTable(w)
		if role == cluster.RoleInvoker {
			t.row("ID", "STATE", "MEMORY", "BUSY", "WARM", "STEM CELLS", "ACTIVATIONS", "LAST HEARTBEAT", "VERSION", "ADOPTED")
			for _, v := range views {
				mem := fmt.Sprintf("%d/%d MB", v.UsedMB, v.UserMB)
				if v.UserMB > 0 {
					mem += fmt.Sprintf(" (%d%%)", 100*v.UsedMB/v.UserMB)
				}
				t.row(v.ID, v.State, mem, fmt.Sprint(v.Busy), fmt.Sprint(v.Warm), fmt.Sprint(v.StemCells),
					fmt.Sprint(v.Activations), ago(v.SecondsSinceHeartbeat), v.Version, adopted(v.Adopted))
			}
		} else {
			t.row("ID", "STATE", "WATCHERS", "LAST HEARTBEAT", "STARTED", "VERSION")
			for _, v := range views {
				t.row(v.ID, v.State, fmt.Sprint(v.Watchers), ago(v.SecondsSinceHeartbeat),
					v.StartedAt.Local().Format("2006-01-02 15:04:05"), v.Version)
			}
		}
		return t.flush()
	})
}

func ago(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	if d < time.Minute {
		return fmt.Sprintf("%.1fs ago", d.Seconds())
	}
	return d.Round(time.Second).String() + " ago"
}

func adopted(subjects []string) string {
	if len(subjects) == 0 {
		return "-"
	}
	ids := make([]string, len(subjects))
	for i, s := range subjects {
		ids[i] = strings.TrimPrefix(s, "invoke.")
	}
	return strings.Join(ids, ",")
}
