package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/client"
	"github.com/gustfaas/gust/internal/whisk"
)

// Annotations the --web and --web-secure flags write (spec §9).
const (
	annotWebExport  = "web-export"
	annotRawHTTP    = "raw-http"
	annotFinal      = "final"
	annotWebSecure  = "require-whisk-auth"
	nativeImage     = "openwhisk/dockerskeleton"
	maxJSInt        = 1<<53 - 1
	defaultPageSize = 30
)

func (a *app) newActionCmd() *cobra.Command {
	return group("action", "Create, invoke and manage actions",
		a.newActionPutCmd(false), a.newActionPutCmd(true), a.newActionInvokeCmd(),
		a.newActionGetCmd(), a.newActionDeleteCmd(), a.newActionListCmd())
}

// actionFlags are the flags of action create and update.
type actionFlags struct {
	kind, main, docker       string
	native, sequence, copy   bool
	web, webSecure           string
	timeout, memory, logsize int
	concurrency              int
	params, annotations      []string
	paramFile, annotFile     string
	delAnnotations           []string
}

func (a *app) newActionPutCmd(update bool) *cobra.Command {
	f := &actionFlags{}
	cmd := &cobra.Command{
		Use:   "create ACTION_NAME ACTION",
		Short: "Create a new action",
		Long: `Create an action from ACTION: a code file, a directory (zipped for you), a
.zip archive, a Docker image (--docker) or a list of actions (--sequence).

The kind is guessed from the file extension as wsk does (.js nodejs:default,
.py python:default, .go go:default, .java/.jar java:default, .swift, .php, .rb,
.rs); archives need --kind unless --native or --docker is given. A directory is
guessed from a package.json, __main__.py or go.mod. Archives and binary files
are sent base64-encoded.

ACTION_NAME may be NAME, PACKAGE/NAME or /NAMESPACE/[PACKAGE/]NAME.`,
		Example: `  gust action create hello hello.js
  gust action create hello hello.py -p greeting Hi -m 128 -t 5000
  gust action create api ./src --kind nodejs:20 --web true
  gust action create tool ./bin.zip --native
  gust action create pipeline --sequence split,count`,
		Args:              argsBetween(1, 2, "an action name and its code are required"),
		ValidArgsFunction: a.completeActions,
	}
	if update {
		cmd.Use = "update ACTION_NAME [ACTION]"
		cmd.Short = "Update an existing action, or create it if it does not exist"
		cmd.Long = `Update an action; fields not given keep their values (the server merges
annotations, and replaces parameters and limits only when given). Creates the
action if it does not exist. ACTION, when given, is read as for create.`
		cmd.Example = `  gust action update hello hello.js
  gust action update hello -p greeting Hello --memory 512
  gust action update hello --web true --web-secure true
  gust action update hello --del-annotation description`
		cmd.Args = argsBetween(1, 2, "an action name is required")
	} else {
		// A new name has nothing to complete; the code is a file.
		cmd.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return nil, cobra.ShellCompDirectiveDefault
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kind, "kind", "", "the `KIND` of runtime (e.g. nodejs:default, python:3.11, go:default)")
	fl.StringVar(&f.main, "main", "", "the `NAME` of the entry point (function, or class for java)")
	fl.StringVar(&f.docker, "docker", "", "run the action in Docker `IMAGE` (a blackbox action)")
	fl.BoolVar(&f.native, "native", false, "treat ACTION as a native action: an executable, or a zip with an exec file")
	fl.BoolVar(&f.sequence, "sequence", false, "treat ACTION as a comma-separated list of actions to run in sequence")
	fl.BoolVar(&f.copy, "copy", false, "treat ACTION as the name of an existing action to copy")
	fl.StringVar(&f.web, "web", "", "web `MODE`: true|yes (a web action), raw (a raw HTTP web action), false|no (a plain action)")
	fl.StringVar(&f.webSecure, "web-secure", "", "secure a web action with `SECRET`: true (a random one), false (none), or the secret itself")
	// The defaults shown are the server's; only limits given are sent, so an
	// update keeps the others, and shows no default.
	def := func(v int) int {
		if update {
			return 0
		}
		return v
	}
	fl.IntVarP(&f.timeout, "timeout", "t", def(60000), "the timeout `LIMIT` in milliseconds")
	fl.IntVarP(&f.memory, "memory", "m", def(256), "the memory `LIMIT` in MB")
	fl.IntVarP(&f.logsize, "logsize", "l", def(10), "the log size `LIMIT` in MB")
	fl.IntVarP(&f.concurrency, "concurrency", "c", def(1), "the `LIMIT` of activations running at once in one sandbox")
	addKeyValueFlags(cmd, &f.params, &f.paramFile, &f.annotations, &f.annotFile)
	if update {
		fl.StringArrayVar(&f.delAnnotations, "del-annotation", nil, "remove annotation `KEY` (repeatable)")
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := a.client(true)
		if err != nil {
			return err
		}
		name, source := args[0], ""
		if len(args) == 2 {
			source = args[1]
		}
		put, err := a.actionPut(cmd, c, f, name, source, update)
		if err != nil {
			return err
		}
		var raw []byte
		ctx := client.CaptureBody(cmd.Context(), &raw)
		stop := func() {}
		if put.Exec != nil && put.Exec.Code != nil {
			stop = a.progress("uploading " + name)
		}
		_, err = c.PutAction(ctx, name, put, update)
		stop()
		if err != nil {
			verb := "create"
			if update {
				verb = "update"
			}
			return failed(err, map[int]string{
				409: fmt.Sprintf("it exists already; `gust action update %s ...` changes it", name),
				400: "the server refused the action; check the kind (`gust action create --help`) and the limits (`gust namespace get`)",
			}, "unable to %s action %q", verb, name)
		}
		return a.emit(raw, func(io.Writer) error {
			if update {
				a.ok("updated action %s", a.bold(name))
			} else {
				a.ok("created action %s", a.bold(name))
			}
			return nil
		})
	}
	return cmd
}

// addKeyValueFlags declares -p/-P and -a/-A. -p and -a take two words; see
// expandKeyValueFlags for how they reach --param and --annotation.
func addKeyValueFlags(cmd *cobra.Command, params *[]string, paramFile *string, annots *[]string, annotFile *string) {
	fl := cmd.Flags()
	fl.StringArrayVarP(params, "param", "p", nil, "parameter `KEY VALUE` (repeatable; VALUE is JSON if it parses as JSON, else a string)")
	fl.StringVarP(paramFile, "param-file", "P", "", "`FILE` of parameters as a JSON object (-p values override it)")
	if annots != nil {
		fl.StringArrayVarP(annots, "annotation", "a", nil, "annotation `KEY VALUE` (repeatable; VALUE as for -p)")
		fl.StringVarP(annotFile, "annotation-file", "A", "", "`FILE` of annotations as a JSON object (-a values override it)")
	}
}

// actionPut builds the body of a create or update from the flags.
func (a *app) actionPut(cmd *cobra.Command, c *client.Client, f *actionFlags, name, source string, update bool) (*whisk.ActionPut, error) {
	changed := cmd.Flags().Changed
	put := &whisk.ActionPut{}
	if f.kind != "" && f.docker != "" {
		return nil, usageError(cmd, "--kind and --docker exclude each other (a Docker action's kind is blackbox)")
	}
	if f.native && f.docker != "" {
		return nil, usageError(cmd, "--native and --docker exclude each other (--native runs on %s)", nativeImage)
	}
	if modes := countTrue(f.sequence, f.copy, f.native || f.docker != ""); modes > 1 {
		return nil, usageError(cmd, "--sequence, --copy and --native/--docker exclude each other")
	}
	var webAnns whisk.KeyValues
	if changed("web") {
		var err error
		if webAnns, err = webAnnotations(f.web); err != nil {
			return nil, usageError(cmd, "%v", err)
		}
	}
	var limits whisk.LimitsPut
	for flag, dst := range map[string]**int{"timeout": &limits.Timeout, "memory": &limits.Memory, "logsize": &limits.Logs, "concurrency": &limits.Concurrency} {
		if changed(flag) {
			v, _ := cmd.Flags().GetInt(flag)
			*dst = &v
		}
	}
	if limits != (whisk.LimitsPut{}) {
		put.Limits = &limits
	}
	params, err := keyValues(f.paramFile, f.params)
	if err != nil {
		return nil, usageError(cmd, "invalid parameters: %v", err)
	}
	annots, err := keyValues(f.annotFile, f.annotations)
	if err != nil {
		return nil, usageError(cmd, "invalid annotations: %v", err)
	}
	put.Parameters, put.Annotations = params, annots

	switch {
	case f.copy:
		if source == "" {
			return nil, usageError(cmd, "--copy needs the name of the action to copy")
		}
		src, err := c.GetAction(cmd.Context(), source, true)
		if err != nil {
			return nil, failed(err, map[int]string{404: "`gust action list` shows the actions"}, "unable to get action %q to copy", source)
		}
		exec := src.Exec
		put.Exec = &exec
		put.Parameters = src.Parameters.Merge(params)
		put.Annotations = src.Annotations.Without("exec").Merge(annots)
	case f.sequence:
		if source == "" {
			return nil, usageError(cmd, "--sequence needs the comma-separated list of actions")
		}
		var comps []string
		for _, s := range strings.Split(source, ",") {
			n, err := c.ParseName(strings.TrimSpace(s))
			if err != nil {
				return nil, usageError(cmd, "sequence component: %v", err)
			}
			comps = append(comps, n.String())
		}
		put.Exec = &whisk.Exec{Kind: whisk.KindSequence, Components: comps}
	case source != "" || f.docker != "":
		exec, err := execFor(source, f)
		if err != nil {
			return nil, err
		}
		put.Exec = exec
	case !update:
		return nil, usageError(cmd, "an action name and its code are required")
	case f.kind != "" || f.main != "" || f.native:
		return nil, usageError(cmd, "--kind, --main and --native need the code as well: give ACTION")
	}

	put.Annotations = put.Annotations.Merge(webAnns)
	if changed("web-secure") {
		if err := a.webSecure(cmd, c, f, name, put, update); err != nil {
			return nil, err
		}
	}
	if update {
		put.DelAnnotations = append(put.DelAnnotations, f.delAnnotations...)
	}
	return put, nil
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// execFor reads ACTION into an exec, choosing the kind as wsk does.
func execFor(source string, f *actionFlags) (*whisk.Exec, error) {
	exec := &whisk.Exec{Main: f.main}
	var art *artifact
	if source != "" {
		var err error
		if art, err = readArtifact(source); err != nil {
			return nil, fmt.Errorf("cannot read the code: %w", err)
		}
		exec.Code = &art.code
	}
	switch {
	case f.kind != "":
		exec.Kind = f.kind
	case f.native:
		if art == nil {
			return nil, &exitError{code: exitUsage, err: errors.New("--native needs the code: an executable, or a zip with an exec file")}
		}
		exec.Kind, exec.Image = whisk.KindBlackbox, nativeImage
	case f.docker != "":
		exec.Kind, exec.Image = whisk.KindBlackbox, f.docker
	case art.guess != nil:
		return nil, &exitError{code: exitUsage, err: art.guess}
	default:
		exec.Kind = art.kind
	}
	if strings.HasPrefix(exec.Kind, "java") && exec.Main == "" {
		return nil, &exitError{code: exitUsage, err: errors.New("java actions need --main, the fully qualified name of the main class")}
	}
	return exec, nil
}

// webAnnotations are what wsk writes for --web.
func webAnnotations(mode string) (whisk.KeyValues, error) {
	var export, raw, final bool
	switch strings.ToLower(mode) {
	case "true", "yes":
		export, final = true, true
	case "raw":
		export, raw, final = true, true, true
	case "false", "no":
	default:
		return nil, fmt.Errorf("--web takes true, yes, raw, false or no, not %q", mode)
	}
	return whisk.KeyValues{}.Set(annotWebExport, export).Set(annotRawHTTP, raw).Set(annotFinal, final), nil
}

// webSecure applies --web-secure, which only makes sense for a web action:
// one made so by this command or, on update, already.
func (a *app) webSecure(cmd *cobra.Command, c *client.Client, f *actionFlags, name string, put *whisk.ActionPut, update bool) error {
	web := strings.ToLower(f.web)
	enabling := web == "true" || web == "yes" || web == "raw"
	disabling := web == "false" || web == "no"
	var existing *whisk.Action
	if update {
		var err error
		existing, err = c.GetAction(cmd.Context(), name, false)
		if err != nil && client.StatusCodeOf(err) != 404 {
			return failed(err, nil, "unable to get action %q", name)
		}
	}
	isWeb := existing != nil && existing.Annotations.IsTruthy(annotWebExport)
	if !enabling && (disabling || !isWeb) {
		return usageError(cmd, "--web-secure is valid only for a web action: add --web true")
	}
	switch strings.ToLower(f.webSecure) {
	case "false":
		put.Annotations = put.Annotations.Without(annotWebSecure)
		if existing != nil && existing.Annotations.Has(annotWebSecure) {
			put.DelAnnotations = append(put.DelAnnotations, annotWebSecure)
		}
	case "true":
		// Keep a random secret the action has, so that clients keep working.
		if existing != nil {
			var n json.Number
			if v := existing.Annotations.Get(annotWebSecure); v != nil && json.Unmarshal(v, &n) == nil {
				return nil
			}
		}
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		// Below 2^53, so that JavaScript (and API gateways) read it exactly.
		put.Annotations = put.Annotations.Set(annotWebSecure, binary.BigEndian.Uint64(b[:])&maxJSInt)
	default:
		put.Annotations = put.Annotations.Set(annotWebSecure, f.webSecure)
	}
	return nil
}

func (a *app) newActionInvokeCmd() *cobra.Command {
	var params []string
	var paramFile string
	var blocking, result bool
	cmd := &cobra.Command{
		Use:   "invoke ACTION_NAME",
		Short: "Invoke an action",
		Long: `Invoke an action. Without --blocking the call returns once the invocation is
accepted, with its activation id (fetch the outcome with 'gust activation get').
With --blocking it waits up to a minute for the activation; --result waits and
prints only the result.

A blocking invocation whose action fails prints the activation (or result) on
stderr and exits 3; one that does not finish within the wait exits 4.`,
		Example: `  gust action invoke hello -p name Ada --result
  gust action invoke hello -P params.json --blocking
  gust action invoke hello -o json -r | jq .payload`,
		Args:              argsBetween(1, 1, "an action name is required"),
		ValidArgsFunction: a.completeActions,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			name := args[0]
			kv, err := keyValues(paramFile, params)
			if err != nil {
				return usageError(cmd, "invalid parameters: %v", err)
			}
			var body any
			if len(kv) > 0 || paramFile != "" {
				body = objectOf(kv)
			}
			blocking = blocking || result
			var raw []byte
			ctx := client.CaptureBody(cmd.Context(), &raw)
			stop := func() {}
			if blocking {
				stop = a.progress("waiting for " + name)
			}
			inv, err := c.Invoke(ctx, name, body, client.InvokeOptions{Blocking: blocking, Result: result})
			stop()
			var cerr *client.Error
			if err != nil && (inv == nil || !errors.As(err, &cerr) || !cerr.ActionFailed()) {
				return failed(err, map[int]string{404: "`gust action list` shows the actions"}, "unable to invoke action %q", name)
			}
			shown := displayName(c, name, inv)
			switch {
			case !inv.Completed() && blocking:
				if a.machine() {
					if err := a.emit(raw, nil); err != nil {
						return err
					}
					return &exitError{code: exitNotFinished}
				}
				fmt.Fprintf(a.stderr, "%s invoked %s, but the request has not yet finished, with id %s\n",
					a.paint("32", "ok:"), a.bold(shown), a.bold(inv.ActivationID))
				return &exitError{code: exitNotFinished, hint: "fetch the outcome later with `gust activation get " + inv.ActivationID + "`"}
			case !inv.Completed():
				return a.emit(raw, func(io.Writer) error {
					a.ok("invoked %s with id %s", a.bold(shown), a.bold(inv.ActivationID))
					return nil
				})
			}
			failedRun := err != nil
			if a.machine() {
				if err := a.emit(raw, nil); err != nil {
					return err
				}
			} else {
				w := a.stdout
				if failedRun {
					w = a.stderr // as wsk: a failed activation is not output to pipe on
				}
				if !result {
					fmt.Fprintf(w, "%s invoked %s with id %s\n", a.paint("32", "ok:"), a.bold(shown), a.bold(inv.ActivationID))
				}
				fmt.Fprintln(w, prettyJSON(raw))
			}
			if failedRun {
				return &exitError{code: exitActionError}
			}
			return nil
		},
	}
	addKeyValueFlags(cmd, &params, &paramFile, nil, nil)
	cmd.Flags().BoolVarP(&blocking, "blocking", "b", false, "wait for the activation and print it")
	cmd.Flags().BoolVarP(&result, "result", "r", false, "wait for the activation and print only its result")
	return cmd
}

// displayName is "/namespace/name" with the real namespace when the answer
// tells it.
func displayName(c *client.Client, name string, inv *client.Invocation) string {
	n, err := c.ParseName(name)
	if err != nil {
		return name
	}
	if n.Namespace == client.DefaultNamespace && inv != nil && inv.Activation != nil && inv.Activation.Namespace != "" {
		n.Namespace = inv.Activation.Namespace
	}
	return n.String()
}

// actionFields are the fields `action get NAME FIELD` accepts.
var actionFields = []string{"namespace", "name", "version", "publish", "exec", "parameters", "limits", "annotations", "updated"}

func (a *app) newActionGetCmd() *cobra.Command {
	var summary, showURL, save, code bool
	var saveAs string
	cmd := &cobra.Command{
		Use:   "get ACTION_NAME [FIELD | --summary | --url | --save | --save-as FILE]",
		Short: "Show an action",
		Long: `Show an action's document, or one FIELD of it:
` + wrapList(actionFields, "  ", 78) + `.
The code is left out unless --code is given; --save writes it to a file named
after the action (decoded when it is an archive), --save-as to FILE.`,
		Example: `  gust action get hello
  gust action get hello limits
  gust action get hello --summary
  gust action get hello --save-as hello-copy.js`,
		Args:              argsBetween(1, 2, "an action name is required"),
		ValidArgsFunction: a.completeActions,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			name, field := args[0], ""
			if len(args) == 2 {
				field = args[1]
				if !contains(actionFields, field) {
					return usageError(cmd, "invalid field filter %q; fields are %s", field, strings.Join(actionFields, ", "))
				}
			}
			saving := save || saveAs != ""
			var raw []byte
			act, err := c.GetAction(client.CaptureBody(cmd.Context(), &raw), name, code || saving)
			if err != nil {
				return failed(err, map[int]string{404: "`gust action list` shows the actions"}, "unable to get action %q", name)
			}
			switch {
			case saving:
				return a.saveCode(act, saveAs)
			case showURL:
				u := actionURL(c.BaseURL(), act)
				return a.emitValue(map[string]string{"url": u}, func(w io.Writer) error {
					a.ok("got action %s", a.bold(name))
					fmt.Fprintln(w, u)
					return nil
				})
			case summary:
				return a.emit(raw, func(w io.Writer) error { return a.printActionSummary(w, act) })
			case field != "":
				return a.emitField(raw, "action", name, field)
			}
			return a.emit(raw, func(w io.Writer) error {
				a.ok("got action %s", a.bold(name))
				fmt.Fprintln(w, prettyJSON(raw))
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&summary, "summary", "s", false, "summarize the action: description and parameters (* bound, ** bound and final)")
	fl.BoolVarP(&showURL, "url", "r", false, "print the action's URL (its web URL for a web action)")
	fl.BoolVar(&code, "code", false, "include the code")
	fl.BoolVar(&save, "save", false, "save the code to a file named after the action")
	fl.StringVar(&saveAs, "save-as", "", "save the code to `FILE`")
	return cmd
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// actionURL is where an action is invoked: its web URL for a web action, as
// wsk prints it.
func actionURL(base *url.URL, act *whisk.Action) string {
	ns, pkg := whisk.SplitPath(act.Namespace)
	b := strings.TrimRight(base.String(), "/")
	if act.Annotations.IsTruthy(annotWebExport) {
		if pkg == "" {
			pkg = whisk.DefaultPackage
		}
		return b + "/api/v1/web/" + url.PathEscape(ns) + "/" + url.PathEscape(pkg) + "/" + url.PathEscape(act.Name)
	}
	if pkg == "" {
		return b + client.NamespacePath(ns, "actions", act.Name)
	}
	return b + client.NamespacePath(ns, "actions", pkg, act.Name)
}

// saveCode writes an action's code to a file, refusing to overwrite one.
func (a *app) saveCode(act *whisk.Action, file string) error {
	switch {
	case act.Exec.Kind == whisk.KindSequence:
		return errors.New("cannot save the code of a sequence: it has none")
	case act.Exec.Code == nil:
		return fmt.Errorf("cannot save the code of action %q: it has none (a Docker image)", act.Name)
	}
	code := []byte(*act.Exec.Code)
	binary := act.Exec.Binary || whisk.IsBase64(*act.Exec.Code)
	if binary {
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(*act.Exec.Code))
		if err != nil {
			return fmt.Errorf("the action's code is not valid base64: %w", err)
		}
		code = dec
	}
	if file == "" {
		file = act.Name + extForKind(act.Exec.Kind, binary)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return &exitError{code: exitFailed, err: fmt.Errorf("the file %q exists already", file), hint: "choose another with --save-as FILE"}
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(code); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = file
	}
	a.ok("saved action code to %s", a.bold(abs))
	return nil
}

// printActionSummary prints wsk's summary: the description and the
// parameters, bound ones marked * (** when final).
func (a *app) printActionSummary(w io.Writer, act *whisk.Action) error {
	ns, pkg := whisk.SplitPath(act.Namespace)
	fqn := whisk.FQN{Namespace: ns, Package: pkg, Name: act.Name}.String()
	params := paramUnion(act)
	desc, _ := act.Annotations.GetString("description")
	if desc == "" && len(params) > 0 {
		plain := make([]string, len(params))
		for i, p := range params {
			plain[i] = strings.TrimLeft(p, "*")
		}
		if len(plain) == 1 {
			desc = "Returns a result based on parameter " + plain[0]
		} else {
			desc = "Returns a result based on parameters " + strings.Join(plain[:len(plain)-1], ", ") + " and " + plain[len(plain)-1]
		}
	}
	line := a.bold("action") + " " + fqn
	if desc != "" {
		line += ": " + desc
	}
	fmt.Fprintln(w, line)
	list := "none defined"
	if len(params) > 0 {
		list = strings.Join(params, ", ")
	}
	fmt.Fprintf(w, "   (%s: %s)\n", a.bold("parameters"), list)
	return nil
}

// paramUnion lists bound parameters and those the "parameters" annotation
// documents, sorted.
func paramUnion(act *whisk.Action) []string {
	tag := "*"
	if act.Annotations.IsTruthy(annotFinal) {
		tag = "**"
	}
	bound := map[string]bool{}
	names := map[string]bool{}
	for _, p := range act.Parameters {
		bound[p.Key], names[p.Key] = true, true
	}
	var documented []struct {
		Name string `json:"name"`
	}
	if v := act.Annotations.Get("parameters"); v != nil && json.Unmarshal(v, &documented) == nil {
		for _, d := range documented {
			if d.Name != "" {
				names[d.Name] = true
			}
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	for i, n := range out {
		if bound[n] {
			out[i] = tag + n
		}
	}
	return out
}

func (a *app) newActionDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "delete ACTION_NAME",
		Short:             "Delete an action",
		Args:              argsBetween(1, 1, "an action name is required"),
		ValidArgsFunction: a.completeActions,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			var raw []byte
			if _, err := c.DeleteAction(client.CaptureBody(cmd.Context(), &raw), args[0]); err != nil {
				return failed(err, map[int]string{404: "`gust action list` shows the actions"}, "unable to delete action %q", args[0])
			}
			return a.emit(raw, func(io.Writer) error {
				a.ok("deleted action %s", a.bold(args[0]))
				return nil
			})
		},
	}
}

func (a *app) newActionListCmd() *cobra.Command {
	return listCommand(a, &cobra.Command{
		Use:   "list [/NAMESPACE | PACKAGE | /NAMESPACE/PACKAGE]",
		Short: "List the actions of a namespace or a package",
		Long: `List actions, newest first (--name-sort sorts the page by name instead):
their fully qualified name, visibility and kind.`,
		Example: `  gust action list
  gust action list utils --limit 100
  gust action list --count`,
	}, a.actionList())
}

// sortActions sorts as wsk does: actions outside packages first, then by name.
func sortActions(acts []whisk.Action) {
	sort.SliceStable(acts, func(i, j int) bool {
		pi, pj := strings.Contains(acts[i].Namespace, "/"), strings.Contains(acts[j].Namespace, "/")
		if pi != pj {
			return !pi
		}
		return strings.ToLower(acts[i].Namespace+"/"+acts[i].Name) < strings.ToLower(acts[j].Namespace+"/"+acts[j].Name)
	})
}

func (a *app) printActions(w io.Writer, acts []whisk.Action) error {
	fmt.Fprintln(w, a.bold("actions"))
	t := newTable(w)
	for _, act := range acts {
		visibility := "private"
		if act.Publish {
			visibility = "public"
		}
		kind, _ := act.Annotations.GetString("exec")
		if kind == "" {
			kind = act.Exec.Kind
		}
		t.row("/"+act.Namespace+"/"+act.Name, visibility, kind)
	}
	return t.flush()
}

// completeActions offers names for shell completion, asking the server.
func (a *app) completeActions(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return completeNames(a, (*client.Client).ListActions, actionCompletionName, cobra.ShellCompDirectiveDefault)(cmd, args, toComplete)
}

// actionCompletionName is how an action is named in an argument: with its
// package when it has one.
func actionCompletionName(act whisk.Action) string {
	if _, pkg := whisk.SplitPath(act.Namespace); pkg != "" {
		return pkg + "/" + act.Name
	}
	return act.Name
}

// actionList is how the actions are listed, by `gust action list` and `gust list`.
func (a *app) actionList() entityList[whisk.Action] {
	return entityList[whisk.Action]{
		noun:  "actions",
		count: (*client.Client).CountActions,
		list:  (*client.Client).ListActions,
		sort:  sortActions,
		print: func(_ context.Context, w io.Writer, _ *client.Client, acts []whisk.Action) error {
			return a.printActions(w, acts)
		},
	}
}
