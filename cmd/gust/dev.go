package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/client"
	"github.com/gustfaas/gust/internal/whisk"
)

// devPollInterval is how often gust dev looks for changed files. Polling
// modification times needs no file-notification module and works on every
// file system, network mounts included.
var devPollInterval = 300 * time.Millisecond

type devFlags struct {
	action         string
	invoke         string
	invokeOnChange bool
	params         []string
	paramFile      string
	logs           bool
}

func (a *app) newDevCmd() *cobra.Command {
	f := &devFlags{}
	cmd := &cobra.Command{
		Use:   "dev [DIR]",
		Short: "Develop in a loop: deploy DIR, redeploy on every change, tail the logs",
		Long: `Deploy DIR (default ".") and keep it deployed while you edit: every change to
a file in it redeploys, showing the plan, and the logs of the activations are
printed as they happen. DIR holds a manifest.yaml in wskdeploy's format (as
gust new writes) or a single function file, deployed as an action named
after the directory.

When no server answers at the configured API host, gust dev starts one in
this process (its data in a temporary directory, removed on exit) and prints
its key.

Press Enter (when stdin is a terminal) to invoke the main action (--action,
else the manifest's only action or sequence) with the -p parameters, the
parameters file -P, or DIR/params.json when there is one; --invoke-on-change
invokes it after every deploy, and --invoke PARAMS_JSON does so with these
parameters. Ctrl-C stops.`,
		Example: `  gust dev ./hello
  gust dev ./hello -p name Ada --invoke-on-change
  gust dev . --invoke '{"name":"Ada"}'`,
		Args: argsBetween(0, 1, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return usageError(cmd, "%s is not a directory", dir)
			}
			if f.invoke != "" {
				f.invokeOnChange = true
				var obj map[string]any
				if err := json.Unmarshal([]byte(f.invoke), &obj); err != nil {
					return usageError(cmd, "--invoke takes the parameters as a JSON object: %v", err)
				}
			}
			err := a.dev(cmd.Context(), dir, f)
			if errors.Is(err, context.Canceled) {
				return nil // Ctrl-C is how a dev loop ends
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.action, "action", "", "the `ACTION` to invoke (default: the only action or sequence)")
	fl.StringVar(&f.invoke, "invoke", "", "invoke the action with `PARAMS_JSON` after every deploy")
	fl.BoolVar(&f.invokeOnChange, "invoke-on-change", false, "invoke the action after every deploy")
	fl.BoolVar(&f.logs, "logs", true, "print the logs of the activations")
	addKeyValueFlags(cmd, &f.params, &f.paramFile, nil, nil)
	return cmd
}

// lockedWriter serialises the writes of the deploy loop, the log tail and
// the invocations.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (a *app) dev(ctx context.Context, dir string, f *devFlags) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.stdout = &lockedWriter{w: a.stdout}
	a.stderr = &lockedWriter{w: a.stderr}

	s, err := a.settings()
	if err != nil {
		return err
	}
	if stop, err := a.devServer(ctx, &s, dir); err != nil {
		return err
	} else if stop != nil {
		defer stop()
	}
	c, err := a.clientFor(s, true)
	if err != nil {
		return err
	}

	d, err := devDeployment(dir)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	main, err := devMainAction(d, f.action)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	invoke := func() {
		params, err := devParams(dir, f)
		if err != nil {
			fmt.Fprintf(a.stderr, "error: %v\n", err)
			return
		}
		a.devInvoke(ctx, c, main, params)
	}
	deploy := func() bool {
		d, err := devDeployment(dir)
		if err == nil {
			_, err = a.deployLoaded(ctx, c, d, false, false)
		}
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(a.stderr, "error: %v\n", err)
				if h := hintFor(err); h != "" {
					fmt.Fprintf(a.stderr, "hint: %s\n", h)
				}
			}
			return false
		}
		return true
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if f.logs {
		ready := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := a.watchActivations(ctx, c, watchSpec{ready: func() { close(ready) },
				show: func(act *whisk.Activation, _ []byte) error {
					for _, l := range act.Logs {
						fmt.Fprintf(a.stdout, "%s %s\n", a.paint("36", "["+act.Name+"]"), l)
					}
					return nil
				}})
			if err != nil && ctx.Err() == nil {
				fmt.Fprintf(a.stderr, "warning: the log tail stopped: %v\n", err)
			}
		}()
		select { // so that the first invocation's logs are not missed
		case <-ready:
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
		}
	}

	snap := devSnapshot(dir)
	if deploy() && f.invokeOnChange {
		invoke()
	}
	if stdin := os.Stdin; isTerminal(stdin) {
		fmt.Fprintf(a.stdout, "watching %s; press Enter to invoke %s, Ctrl-C to stop\n", dir, main)
		lines := make(chan struct{})
		go func() { // blocked in Read until the process ends: stdin cannot be interrupted
			sc := bufio.NewScanner(stdin)
			for sc.Scan() {
				select {
				case lines <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-lines:
					invoke()
				}
			}
		}()
	} else {
		fmt.Fprintf(a.stdout, "watching %s; Ctrl-C to stop\n", dir)
	}
	tick := time.NewTicker(devPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		now := devSnapshot(dir)
		if now == snap {
			continue
		}
		snap = now
		fmt.Fprintf(a.stdout, "change in %s: redeploying\n", dir)
		if deploy() && f.invokeOnChange {
			invoke()
		}
	}
}

// devServer starts a server in this process when none answers at the
// configured API host, and points s at it. stop shuts it down.
func (a *app) devServer(ctx context.Context, s *clientSettings, dir string) (stop func(), err error) {
	probe, err := a.clientFor(*s, false)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = probe.Info(pctx)
	cancel()
	if err == nil {
		return nil, nil
	}
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		return nil, failed(err, nil, "the server at %s answered strangely", s.apihost.value)
	}
	cfg := defaultServerConfig()
	cfg.Addr = "127.0.0.1:0"
	if u, err := client.BaseURL(s.apihost.value); err == nil && u.Scheme == "http" {
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			port := u.Port()
			if port == "" {
				port = "80"
			}
			cfg.Addr = net.JoinHostPort(u.Hostname(), port) // where the settings point: wsk finds it too
		}
	}
	// Not under DIR: a deploy of DIR would zip the store, and its writes
	// would look like edits.
	if cfg.DataDir, err = os.MkdirTemp("", "gust-dev-"); err != nil {
		return nil, err
	}
	cfg.StemCells = map[string]int{}
	cfg.Controller.InvocationsPerMinute = 0
	cfg.Controller.ConcurrentInvocations = 0
	cfg.Controller.FiresPerMinute = 0
	cfg.ShutdownGrace = 5 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := startServer(context.WithoutCancel(ctx), cfg)
	if err != nil {
		os.RemoveAll(cfg.DataDir)
		return nil, fmt.Errorf("no server answers at %s, and starting one failed: %w", s.apihost.value, err)
	}
	asked := s.apihost.value
	s.apihost = setting{srv.cfg.APIHost, "gust dev"}
	s.auth = setting{srv.guestKey.String(), "gust dev"}
	s.namespace = setting{client.DefaultNamespace, "gust dev"}
	fmt.Fprintf(a.stdout, "no server answered at %s: started one on %s\nAPI key: %s\n", asked, srv.cfg.APIHost, srv.guestKey)
	return func() {
		if err := srv.shutdown(context.Background()); err != nil {
			fmt.Fprintf(a.stderr, "warning: stopping the server: %v\n", err)
		}
		os.RemoveAll(cfg.DataDir)
	}, nil
}

// devDeployment is DIR's manifest, or its one function file as an action
// named after the directory.
func devDeployment(dir string) (*deployment, error) {
	for _, m := range []string{"manifest.yaml", "manifest.yml"} {
		p := filepath.Join(dir, m)
		if _, err := os.Stat(p); err == nil {
			return loadManifest(p, "")
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || strings.Contains(name, ".test.") || strings.HasPrefix(name, "test_") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if _, ok := kindByExt[strings.ToLower(filepath.Ext(name))]; ok {
			files = append(files, name)
		}
	}
	if len(files) != 1 {
		if len(files) == 0 {
			return nil, fmt.Errorf("%s has no manifest.yaml and no function file (.js, .py, .go, ...)", dir)
		}
		return nil, fmt.Errorf("%s has no manifest.yaml and several function files (%s): write a manifest.yaml", dir, strings.Join(files, ", "))
	}
	name := filepath.Base(abs)
	if !whisk.ValidName(name) {
		return nil, fmt.Errorf("the directory name %q is not a valid action name: write a manifest.yaml", name)
	}
	exec, err := execFor(filepath.Join(dir, files[0]), &actionFlags{})
	if err != nil {
		return nil, err
	}
	e := &desiredEntity{kind: entAction, name: name, exec: exec, limits: defaultActionLimits}
	e.annotations = e.annotations.Set(annotManaged, managedValue(name, files[0]))
	return &deployment{project: name, file: files[0], entities: []*desiredEntity{e}}, nil
}

// devMainAction is the action Enter and --invoke-on-change invoke.
func devMainAction(d *deployment, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	var acts, seqs []string
	for _, e := range d.entities {
		switch e.kind {
		case entAction:
			acts = append(acts, e.name)
		case entSequence:
			seqs = append(seqs, e.name)
		}
	}
	switch {
	case len(seqs) == 1:
		return seqs[0], nil
	case len(acts) == 1 && len(seqs) == 0:
		return acts[0], nil
	case len(acts)+len(seqs) == 0:
		return "", errors.New("the manifest declares no action")
	}
	return "", fmt.Errorf("the manifest declares several actions (%s): choose one with --action", strings.Join(append(seqs, acts...), ", "))
}

// devParams are -p over -P, else DIR/params.json.
func devParams(dir string, f *devFlags) (json.RawMessage, error) {
	if f.invoke != "" {
		return json.RawMessage(f.invoke), nil
	}
	file := f.paramFile
	if file == "" && len(f.params) == 0 {
		if _, err := os.Stat(filepath.Join(dir, "params.json")); err == nil {
			file = filepath.Join(dir, "params.json")
		}
	}
	kv, err := keyValues(file, f.params)
	if err != nil {
		return nil, fmt.Errorf("invalid parameters: %w", err)
	}
	return objectOf(kv), nil
}

func (a *app) devInvoke(ctx context.Context, c *client.Client, name string, params json.RawMessage) {
	inv, err := c.Invoke(ctx, name, params, client.InvokeOptions{Blocking: true, Result: true})
	if err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.ActionFailed() && ce.Result != nil {
			fmt.Fprintf(a.stderr, "%s failed:\n%s\n", name, prettyJSON(ce.Result))
			return
		}
		if ctx.Err() == nil {
			fmt.Fprintf(a.stderr, "error: unable to invoke %s: %v\n", name, err)
		}
		return
	}
	if !inv.Completed() {
		fmt.Fprintf(a.stdout, "%s is still running: activation %s\n", name, inv.ActivationID)
		return
	}
	fmt.Fprintf(a.stdout, "%s %s\n", a.paint("1", name+" →"), prettyJSON(inv.Result))
}

// devSnapshot fingerprints DIR's files: names, sizes and modification times.
// Hidden directories (.git, .gust) are skipped.
func devSnapshot(dir string) uint64 {
	type stamp struct {
		path string
		size int64
		mod  int64
	}
	var stamps []stamp
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			stamps = append(stamps, stamp{p, fi.Size(), fi.ModTime().UnixNano()})
		}
		return nil
	})
	sort.Slice(stamps, func(i, j int) bool { return stamps[i].path < stamps[j].path })
	h := fnv.New64a()
	for _, s := range stamps {
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", s.path, s.size, s.mod)
	}
	return h.Sum64()
}
