// Command gust is Gust's one binary: the server (gust serve), its operator
// tools (gust admin, gust config) and a client that speaks OpenWhisk's REST
// API v1 with wsk's verbs and flags (gust action, activation, namespace,
// property, list).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/client"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var (
	version   = "dev"
	buildDate = "" // -X main.buildDate=2026-11-26
)

// Exit codes. wsk exits with 1 or with HTTP status − 256, which scripts cannot
// read without the table; gust keeps a few classes instead.
const (
	exitOK          = 0   // success
	exitFailed      = 1   // the request failed: refused by the server, server unreachable, bad file, ...
	exitUsage       = 2   // the command line is wrong: unknown command or flag, missing argument
	exitActionError = 3   // a blocking invocation completed and the action did not succeed
	exitNotFinished = 4   // a blocking invocation was accepted but did not finish within the wait
	exitInterrupted = 130 // interrupted (Ctrl-C), as shells report SIGINT
)

const exitCodesHelp = `Exit status:
  0    success
  1    the request failed (refused by the server, server unreachable,
       unreadable file, ...)
  2    usage error (unknown command or flag, missing or extra arguments)
  3    a blocking invocation completed, but the action did not succeed
  4    a blocking invocation was accepted but did not finish in time; its
       activation id is printed and the result can be fetched later
  130  interrupted (Ctrl-C)`

// Without traversal cobra runs only the innermost PersistentPreRunE, so a
// server command that sets its own would silently skip the root's, which
// validates -o and binds configuration.
func init() { cobra.EnableTraverseRunHooks = true }

func main() {
	if os.Getenv("GOGC") == "" {
		// The platform's live heap is small (tens of MB) and every invoke
		// allocates a little: collecting at 4x the live heap instead of 2x
		// gave 3-6% more warm invokes per second (README, Performance).
		// GOGC in the environment still decides.
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns its exit status. It has no
// global state, so tests call it in-process.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args, err := expandKeyValueFlags(args)
	if err != nil {
		return report(stderr, err)
	}
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	return report(stderr, root.ExecuteContext(ctx))
}

// globals are the flags every command inherits.
type globals struct {
	apihost   string
	auth      string
	namespace string
	insecure  bool
	debug     bool
	output    string
}

// app is the state of one command line: where output goes and the global
// flags. Commands are closures over it.
type app struct {
	stdout, stderr io.Writer
	g              globals
	root           *cobra.Command
	colour         bool // stdout is a terminal that wants colour
	stderrTTY      bool
}

// newRootCmd builds the whole command tree, writing to stdout and stderr.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command { return newApp(stdout, stderr).root }

// newApp builds the command tree around a fresh app.
func newApp(stdout, stderr io.Writer) *app {
	a := &app{stdout: stdout, stderr: stderr}
	a.colour = isTerminal(stdout) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	a.stderrTTY = isTerminal(stderr)

	root := &cobra.Command{
		Use:   "gust",
		Short: "Gust: a serverless platform that speaks OpenWhisk's API",
		Long: `Gust runs functions ("actions") on demand, in isolated sandboxes, and speaks
Apache OpenWhisk's REST API, so wsk and the openwhisk npm client work with it.

This one binary is the server (gust serve), its operator tools (gust admin,
gust config) and a client with wsk's verbs and flags. The client reads the API
host, key and namespace from flags, then GUST_APIHOST / GUST_AUTH /
GUST_NAMESPACE, then wsk's WHISK_* variables, then ~/.wskprops (or the file
named by WSK_CONFIG_FILE), which it shares with wsk.

Getting started on one machine:
  gust serve &                  # start the platform; it prints the guest key
  gust property set --apihost localhost:3233 --auth KEY
  gust action create hello hello.js
  gust action invoke hello -p name Ada --result
  gust admin namespace create alice   # another tenant, with its own key

` + exitCodesHelp,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          unknownSubcommand,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch a.g.output {
			case "table", "json", "yaml":
			default:
				return usageError(cmd, "--output must be json, yaml or table, not %q", a.g.output)
			}
			return bindConfigFor(cmd)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("gust {{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(cmd, "%v", err) })

	pf := root.PersistentFlags()
	pf.StringVar(&a.g.apihost, "apihost", "", "API `HOST` (host[:port] or URL; loopback hosts default to http://, others to https://)")
	pf.StringVarP(&a.g.auth, "auth", "u", "", "API `KEY` (uuid:secret)")
	pf.StringVar(&a.g.namespace, "namespace", "", "`NAMESPACE` used for names without one (default \"_\": the key's own)")
	pf.BoolVarP(&a.g.insecure, "insecure", "i", false, "skip TLS certificate verification")
	pf.BoolVarP(&a.g.debug, "debug", "d", false, "trace HTTP requests and responses on stderr (the key is redacted)")
	pf.StringVarP(&a.g.output, "output", "o", "table", "output `FORMAT`: table (for people), json or yaml (for scripts)")

	root.AddGroup(
		&cobra.Group{ID: "client", Title: "Client commands (wsk's verbs):"},
		&cobra.Group{ID: "server", Title: "Server commands:"},
	)
	for _, c := range []*cobra.Command{
		a.newActionCmd(), a.newActivationCmd(), a.newNamespaceCmd(), a.newPropertyCmd(), a.newListCmd(),
		a.newPackageCmd(), a.newTriggerCmd(), a.newRuleCmd(),
		a.newAPICmd(),
		a.newNewCmd(),
		a.newDeployCmd(), a.newUndeployCmd(), a.newDevCmd(),
	} {
		c.GroupID = "client"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{withConfig(newServeCmd()), newControllerCmd(), newInvokerCmd(), a.newAdminCmd(), a.newConfigCmd(root), a.newBenchCmd()} {
		c.GroupID = "server"
		root.AddCommand(c)
	}
	a.root = root
	return a
}

func versionString() string {
	v := version
	if v == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v += "+" + s.Value[:12]
				}
			}
		}
	}
	return v + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// group makes a command that only holds sub-commands. Without a RunE cobra
// would answer an unknown sub-command with the help text and exit 0.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  unknownSubcommand,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(subs...)
	return c
}

func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, which it sets only on its own path
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError(cmd, "%s", msg)
}

// exitError carries an exit status and, optionally, what to do next.
type exitError struct {
	code int
	err  error // nil: everything worth saying was already printed
	hint string
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageError(cmd *cobra.Command, format string, args ...any) error {
	return &exitError{
		code: exitUsage,
		err:  fmt.Errorf(format, args...),
		hint: fmt.Sprintf("run '%s --help' for usage", cmd.CommandPath()),
	}
}

// argsBetween checks the number of positional arguments, naming what is missing.
func argsBetween(min, max int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min {
			return usageError(cmd, "%s", what)
		}
		if max >= 0 && len(args) > max {
			return usageError(cmd, "too many arguments: %s", strings.Join(args[max:], " "))
		}
		return nil
	}
}

// report prints err to stderr and returns the exit status.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "interrupted")
		return exitInterrupted
	}
	code, hint := exitFailed, hintFor(err)
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.hint != "" {
			hint = ee.hint
		}
		if ee.err == nil {
			if ee.hint != "" {
				fmt.Fprintf(stderr, "hint: %s\n", ee.hint)
			}
			return code
		}
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	if hint != "" {
		fmt.Fprintf(stderr, "hint: %s\n", hint)
	}
	return code
}

// failed wraps an API call's error with what was being done. hints adds what
// to do next for particular HTTP statuses; the common ones are in hintFor.
func failed(err error, hints map[int]string, format string, args ...any) error {
	e := &exitError{code: exitFailed, err: fmt.Errorf(format+": %w", append(args, err)...)}
	if errors.Is(err, client.ErrInvalidName) {
		e.code = exitUsage
	}
	if h, ok := hints[client.StatusCodeOf(err)]; ok {
		e.hint = h
	}
	return e
}

// hintFor says what to do next about the failures every command can meet.
func hintFor(err error) string {
	switch client.StatusCodeOf(err) {
	case 401:
		return "the API key was rejected; run `gust property set --auth UUID:KEY` with a valid key, or check `gust property get`"
	case 403:
		return "the key's namespace may not use this resource; check the name's namespace and `gust property get --namespace`"
	case 413:
		return "the request is larger than the server allows; `gust namespace get` shows the limits"
	case 429:
		return "the namespace is throttled; wait a minute, or see its limits with `gust namespace get`"
	case 503:
		return "the server cannot run work now (no invoker, or shutting down); check the server's logs"
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return "the server's TLS certificate is not trusted; use -i/--insecure for a self-signed certificate"
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return "the API host did not answer in time; check `gust property get --apihost`"
		}
		var opErr *net.OpError
		if errors.As(err, &opErr) || errors.Is(err, syscall.ECONNREFUSED) {
			return "cannot reach the API host; start a local server with `gust serve`, or set the host with `gust property set --apihost HOST`"
		}
	}
	return ""
}
