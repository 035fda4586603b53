package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/store/sqlite"
	"github.com/gustfaas/gust/internal/whisk"
)

// `gust admin` works on the store directly, as OpenWhisk's wskadmin works on
// its database: no server or key needed, only access to the data directory.
// SQLite's WAL lets it run while `gust serve` runs; the server's
// authentication cache forgets a changed key within seconds.

func (a *app) newAdminCmd() *cobra.Command {
	var dataDir string
	var ca clusterAdmin // --store and --bus of a cluster; see cluster_admin.go
	open := func(create bool) (store.Store, error) {
		if ca.storeURL != "" {
			return ca.openStore()
		}
		return openStore(dataDir, create)
	}
	cmd := group("admin", "Manage namespaces and keys in the local store (like wskadmin)",
		group("namespace", "Create, list, change and delete namespaces (tenants)",
			a.newAdminNSCreateCmd(open), a.newAdminNSListCmd(open), a.newAdminNSGetCmd(open),
			a.newAdminNSUpdateCmd(open), a.newAdminNSDeleteCmd(open)),
		group("key", "Manage namespaces' API keys", a.newAdminKeyRotateCmd(open)),
		a.newAdminInvokersCmd(&ca), a.newAdminControllersCmd(&ca),
	)
	cmd.Long = `Manage namespaces and their API keys directly in the store of the data
directory, as OpenWhisk's wskadmin does; no server or key is needed. It is safe
to run while 'gust serve' runs on the same data directory.

--data (env GUST_DATA, config file key "data") names the data directory; the
default is the one 'gust serve' uses. With --store postgres://... (GUST_STORE)
the namespace and key commands work on a cluster's PostgreSQL instead, and
'admin invokers' and 'admin controllers' ask a cluster's members over --bus
(GUST_BUS).`
	cmd.PersistentFlags().StringVar(&dataDir, "data", defaultDataDir(), "the data `DIR` of the server (holds "+storePath("")+")")
	ca.addFlags(cmd)
	return withConfig(cmd)
}

// openStore opens the store in dir. Only commands that create something may
// create the database: a typo in --data should not make an empty one.
func openStore(dir string, create bool) (*sqlite.Store, error) {
	path := storePath(dir)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if !create {
			return nil, &exitError{code: exitFailed, err: fmt.Errorf("no Gust store in %s (%s not found)", dir, path),
				hint: "give the server's data directory with --data DIR, or start `gust serve` once"}
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	st, err := sqlite.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open the store: %w", err)
	}
	return st, nil
}

// limitFlag is a namespace throttle: a count, 0 for unlimited, or "default"
// for the server's setting.
type limitFlag struct {
	v     *int
	isSet bool
}

func (l *limitFlag) String() string {
	if !l.isSet {
		return ""
	}
	if l.v == nil {
		return "default"
	}
	return strconv.Itoa(*l.v)
}

func (l *limitFlag) Set(s string) error {
	if s == "default" {
		l.v, l.isSet = nil, true
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return errors.New(`expected a number ≥ 0 (0 = unlimited) or "default"`)
	}
	l.v, l.isSet = &n, true
	return nil
}

func (l *limitFlag) Type() string { return "N" }

type limitFlags struct{ perMinute, concurrent, fires limitFlag }

func (lf *limitFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.Var(&lf.perMinute, "invocations-per-minute", "invocations per minute (0 = unlimited, default = the server's --invocations-per-minute)")
	fl.Var(&lf.concurrent, "concurrent-invocations", "invocations in flight at once (0 = unlimited, default = the server's setting)")
	fl.Var(&lf.fires, "fires-per-minute", "trigger fires per minute (0 = unlimited, default = the server's setting)")
}

// apply overrides the limits that were given.
func (lf *limitFlags) apply(l *whisk.NamespaceLimits) {
	if lf.perMinute.isSet {
		l.InvocationsPerMinute = lf.perMinute.v
	}
	if lf.concurrent.isSet {
		l.ConcurrentInvocations = lf.concurrent.v
	}
	if lf.fires.isSet {
		l.FiresPerMinute = lf.fires.v
	}
}

func (lf *limitFlags) any() bool { return lf.perMinute.isSet || lf.concurrent.isSet || lf.fires.isSet }

// nsView is a namespace as admin shows it; the key hash stays in the store.
type nsView struct {
	Name    string                `json:"name"`
	Subject string                `json:"subject"`
	UUID    string                `json:"uuid"`
	Limits  whisk.NamespaceLimits `json:"limits"`
	Created int64                 `json:"created"`
}

func viewOf(ns store.Namespace) nsView {
	return nsView{Name: ns.Name, Subject: ns.Subject, UUID: ns.UUID, Limits: ns.Limits, Created: ns.Created}
}

func limitText(v *int) string {
	switch {
	case v == nil:
		return "default"
	case *v == 0:
		return "unlimited"
	}
	return strconv.Itoa(*v)
}

func checkNamespaceName(cmd *cobra.Command, name string) error {
	if name == whisk.SelfNamespace || !whisk.ValidName(name) {
		return usageError(cmd, "%q is not a valid namespace name (letters, digits, _ @ . & - and spaces; at most 256)", name)
	}
	return nil
}

// printKey prints a new key: alone on stdout, so that KEY=$(gust admin ...)
// works, and with what to do with it on stderr.
func (a *app) printKey(ns string, key whisk.AuthKey, what string) error {
	if a.machine() {
		return a.emitValue(map[string]string{"namespace": ns, "key": key.String(), "uuid": key.UUID}, nil)
	}
	fmt.Fprintln(a.stdout, key.String())
	fmt.Fprintf(a.stderr, "%s %s; the key above is shown only once (the store keeps a hash of it).\n", a.paint("32", "ok:"), what)
	fmt.Fprintf(a.stderr, "Use it with:  gust property set --auth %s\n", key)
	return nil
}

type storeOpener func(create bool) (store.Store, error)

func (a *app) newAdminNSCreateCmd(open storeOpener) *cobra.Command {
	var subject, keyText string
	var lf limitFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a namespace and print its new API key",
		Long: `Create a namespace (a tenant) and print its API key, uuid:secret. The key is
shown only this once: the store keeps only a hash of the secret. Limits not
given follow the server's defaults.`,
		Example: `  gust admin namespace create alice
  KEY=$(gust admin namespace create ci --invocations-per-minute 0 --concurrent-invocations 0)
  gust admin namespace create guest --key 23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZ...`,
		Args: argsBetween(1, 1, "a namespace name is required"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkNamespaceName(cmd, name); err != nil {
				return err
			}
			key := whisk.NewAuthKey()
			if keyText != "" {
				k, err := whisk.ParseAuthKey(keyText)
				if err != nil {
					return usageError(cmd, "--key: %v", err)
				}
				key = k
			}
			ns := store.Namespace{Name: name, Subject: or(subject, name), UUID: key.UUID,
				KeyHash: whisk.HashSecret(key.Secret), Created: time.Now().UnixMilli()}
			lf.apply(&ns.Limits)
			st, err := open(true)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.CreateNamespace(cmd.Context(), ns); err != nil {
				if errors.Is(err, whisk.ErrConflict) {
					return &exitError{code: exitFailed, err: fmt.Errorf("namespace %q (or the key's uuid) exists already", name),
						hint: fmt.Sprintf("`gust admin key rotate %s` gives it a new key", name)}
				}
				return fmt.Errorf("create namespace %q: %w", name, err)
			}
			return a.printKey(name, key, "created namespace "+a.bold(name))
		},
	}
	cmd.Flags().StringVar(&subject, "subject", "", "the `SUBJECT` (owner) recorded on activations (default: NAME)")
	cmd.Flags().StringVar(&keyText, "key", "", "use this `UUID:SECRET` instead of a random key (e.g. a well-known development key)")
	lf.add(cmd)
	return cmd
}

func (a *app) newAdminNSListCmd(open storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List namespaces with their key uuids and limits",
		Args:  argsBetween(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := open(false)
			if err != nil {
				return err
			}
			defer st.Close()
			all, err := st.ListNamespaces(cmd.Context())
			if err != nil {
				return fmt.Errorf("list namespaces: %w", err)
			}
			views := make([]nsView, 0, len(all))
			for _, ns := range all {
				views = append(views, viewOf(ns))
			}
			return a.emitValue(views, func(w io.Writer) error {
				t := newTable(w)
				t.row("NAME", "SUBJECT", "KEY UUID", "INVOCATIONS/MIN", "CONCURRENT", "FIRES/MIN", "CREATED")
				for _, v := range views {
					t.row(v.Name, v.Subject, v.UUID, limitText(v.Limits.InvocationsPerMinute),
						limitText(v.Limits.ConcurrentInvocations), limitText(v.Limits.FiresPerMinute),
						time.UnixMilli(v.Created).Format("2006-01-02 15:04"))
				}
				return t.flush()
			})
		},
	}
}

func getNamespace(ctx context.Context, st store.Store, name string) (store.Namespace, error) {
	ns, err := st.GetNamespace(ctx, name)
	if errors.Is(err, whisk.ErrNotFound) {
		return ns, &exitError{code: exitFailed, err: fmt.Errorf("namespace %q does not exist", name),
			hint: "`gust admin namespace list` shows the namespaces"}
	}
	if err != nil {
		return ns, fmt.Errorf("get namespace %q: %w", name, err)
	}
	return ns, nil
}

func (a *app) newAdminNSGetCmd(open storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a namespace: subject, key uuid and limits",
		Long: `Show a namespace. Limits read "default" when the namespace follows the
server's setting, "unlimited" when set to 0.`,
		Args: argsBetween(1, 1, "a namespace name is required"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open(false)
			if err != nil {
				return err
			}
			defer st.Close()
			ns, err := getNamespace(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			v := viewOf(ns)
			return a.emitValue(v, func(w io.Writer) error { return printNamespace(w, v) })
		},
	}
}

func printNamespace(w io.Writer, v nsView) error {
	t := newTable(w)
	t.row("namespace", v.Name)
	t.row("subject", v.Subject)
	t.row("key uuid", v.UUID)
	t.row("invocations per minute", limitText(v.Limits.InvocationsPerMinute))
	t.row("concurrent invocations", limitText(v.Limits.ConcurrentInvocations))
	t.row("trigger fires per minute", limitText(v.Limits.FiresPerMinute))
	t.row("created", time.UnixMilli(v.Created).Format(time.RFC3339))
	return t.flush()
}

func (a *app) newAdminNSUpdateCmd(open storeOpener) *cobra.Command {
	var subject string
	var lf limitFlags
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Change a namespace's limits or subject",
		Long: `Change a namespace's limits or subject; what is not given is kept. A limit
of 0 means unlimited; "default" returns it to the server's setting. The running
server applies the change within seconds.`,
		Example: `  gust admin namespace update alice --invocations-per-minute 600
  gust admin namespace update bench --invocations-per-minute 0 --concurrent-invocations 0
  gust admin namespace update alice --concurrent-invocations default`,
		Args: argsBetween(1, 1, "a namespace name is required"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !lf.any() && !cmd.Flags().Changed("subject") {
				return usageError(cmd, "nothing to change: give --subject or a limit")
			}
			st, err := open(false)
			if err != nil {
				return err
			}
			defer st.Close()
			ns, err := getNamespace(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("subject") {
				ns.Subject = subject
			}
			lf.apply(&ns.Limits)
			if err := st.UpdateNamespace(cmd.Context(), ns); err != nil {
				return fmt.Errorf("update namespace %q: %w", ns.Name, err)
			}
			v := viewOf(ns)
			return a.emitValue(v, func(w io.Writer) error {
				a.ok("updated namespace %s", a.bold(ns.Name))
				return printNamespace(w, v)
			})
		},
	}
	cmd.Flags().StringVar(&subject, "subject", "", "the new `SUBJECT`")
	lf.add(cmd)
	return cmd
}

func (a *app) newAdminNSDeleteCmd(open storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a namespace with all its entities and activations",
		Long: `Delete a namespace and, with it, every action, package, trigger, rule and
activation it holds. Its key stops working within seconds. This cannot be undone.`,
		Args: argsBetween(1, 1, "a namespace name is required"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open(false)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.DeleteNamespace(cmd.Context(), args[0]); err != nil {
				if errors.Is(err, whisk.ErrNotFound) {
					_, err = getNamespace(cmd.Context(), st, args[0])
					return err
				}
				return fmt.Errorf("delete namespace %q: %w", args[0], err)
			}
			return a.emitValue(map[string]string{"deleted": args[0]}, func(io.Writer) error {
				a.ok("deleted namespace %s with its entities and activations", a.bold(args[0]))
				return nil
			})
		},
	}
}

func (a *app) newAdminKeyRotateCmd(open storeOpener) *cobra.Command {
	return &cobra.Command{
		Use:   "rotate NAME",
		Short: "Give a namespace a new API key; the old one stops working",
		Long: `Give a namespace a new API key and print it. The old key stops working: at
once for new server processes, within seconds for a running server (its
authentication cache expires). Entities and activations are kept.`,
		Args: argsBetween(1, 1, "a namespace name is required"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open(false)
			if err != nil {
				return err
			}
			defer st.Close()
			ns, err := getNamespace(cmd.Context(), st, args[0])
			if err != nil {
				return err
			}
			key := whisk.NewAuthKey()
			ns.UUID, ns.KeyHash = key.UUID, whisk.HashSecret(key.Secret)
			if err := st.UpdateNamespace(cmd.Context(), ns); err != nil {
				return fmt.Errorf("rotate the key of %q: %w", ns.Name, err)
			}
			return a.printKey(ns.Name, key, "rotated the key of namespace "+a.bold(ns.Name))
		},
	}
}
