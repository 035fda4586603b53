package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/client"
	"github.com/gustfaas/gust/internal/whisk"
)

func (a *app) newActivationCmd() *cobra.Command {
	return group("activation", "Inspect activations: the records of invocations",
		a.newActivationListCmd(), a.newActivationGetCmd(), a.newActivationResultCmd(), a.newActivationLogsCmd(),
		a.newActivationPollCmd())
}

// timeFlag reads a point in time as epoch milliseconds (wsk's form), an
// RFC 3339 time, or a duration meaning that long ago ("10m", "2h").
type timeFlag struct {
	ms  int64
	now func() time.Time
}

func (t *timeFlag) String() string {
	if t.ms == 0 {
		return ""
	}
	return strconv.FormatInt(t.ms, 10)
}

func (t *timeFlag) Set(s string) error {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		t.ms = ms
		return nil
	}
	if ts, err := time.Parse(time.RFC3339, s); err == nil {
		t.ms = ts.UnixMilli()
		return nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		t.ms = t.now().Add(-d).UnixMilli()
		return nil
	}
	return errors.New("expected epoch milliseconds, an RFC 3339 time or a duration such as 10m")
}

func (t *timeFlag) Type() string { return "TIME" }

func (a *app) newActivationListCmd() *cobra.Command {
	var skip, limit int
	var full, count bool
	since, upto := &timeFlag{now: time.Now}, &timeFlag{now: time.Now}
	cmd := &cobra.Command{
		Use:   "list [ACTION_NAME]",
		Short: "List activations, newest first",
		Long: `List activations, newest first: when each started, its id, kind, whether its
sandbox was cold or warm, duration, status and action. ACTION_NAME (NAME or
PACKAGE/NAME) keeps only that action's. --since and --upto take epoch
milliseconds (as wsk), an RFC 3339 time, or a duration ago (10m, 2h).`,
		Example: `  gust activation list
  gust activation list hello --since 1h
  gust activation list --full --limit 5
  gust activation list --count`,
		Args: argsBetween(0, 1, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			opts := client.ActivationListOptions{Since: since.ms, Upto: upto.ms, Skip: skip, Limit: limit, Docs: full}
			if len(args) == 1 {
				n, err := c.ParseName(args[0])
				if err != nil {
					return usageError(cmd, "%v", err)
				}
				opts.Name = n.Name
				if n.Package != "" {
					opts.Name = n.Package + "/" + n.Name
				}
			}
			var raw []byte
			ctx := client.CaptureBody(cmd.Context(), &raw)
			if count {
				n, err := c.CountActivations(ctx, opts)
				if err != nil {
					return failed(err, nil, "unable to count activations")
				}
				return a.emit(raw, func(w io.Writer) error { _, err := fmt.Fprintln(w, n); return err })
			}
			acts, err := c.ListActivations(ctx, opts)
			if err != nil {
				return failed(err, map[int]string{400: "--limit is at most 200"}, "unable to list activations")
			}
			return a.emit(raw, func(w io.Writer) error {
				if full {
					return printFullActivations(a, w, raw)
				}
				return a.printActivations(w, acts)
			})
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&skip, "skip", "s", 0, "skip the first `SKIP` activations")
	fl.IntVarP(&limit, "limit", "l", defaultPageSize, "list at most `LIMIT` activations (at most 200; 0 = 200)")
	fl.BoolVarP(&full, "full", "f", false, "print whole activation records")
	fl.BoolVar(&count, "count", false, "print only the number of activations")
	fl.Var(since, "since", "only activations started at or after `TIME`")
	fl.Var(upto, "upto", "only activations started at or before `TIME`")
	return cmd
}

func printFullActivations(a *app, w io.Writer, raw []byte) error {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return err
	}
	fmt.Fprintln(w, a.bold("activations"))
	for _, it := range items {
		fmt.Fprintln(w, prettyJSON(it))
	}
	return nil
}

// statusLabels are wsk's list labels for status codes 0-3.
var statusLabels = []string{"success", "application error", "developer error", "internal error"}

func statusLabel(act *whisk.Activation) string {
	code := act.StatusCode
	if code == 0 {
		code = int(act.Response.StatusCode)
	}
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return strconv.Itoa(code)
}

func (a *app) printActivations(w io.Writer, acts []whisk.Activation) error {
	t := newTable(w)
	t.row("Datetime", "Activation ID", "Kind", "Start", "Duration", "Status", "Entity")
	for i := range acts {
		act := &acts[i]
		kind, ok := act.Annotations.GetString("kind")
		if !ok {
			kind = "unknown"
		}
		start := "warm"
		if act.Annotations.Has("initTime") {
			start = "cold"
		}
		duration := time.Duration(act.Duration) * time.Millisecond
		if act.End == 0 {
			duration = 0
		}
		t.row(time.UnixMilli(act.Start).Format("2006-01-02 15:04:05"), act.ActivationID, kind, start,
			duration.String(), statusLabel(act), act.Namespace+"/"+act.Name+":"+act.Version)
	}
	return t.flush()
}

// lastActivation is the id --last stands for.
func lastActivation(cmd *cobra.Command, c *client.Client) (string, error) {
	acts, err := c.ListActivations(cmd.Context(), client.ActivationListOptions{Limit: 1})
	if err != nil {
		return "", failed(err, nil, "unable to find the last activation")
	}
	if len(acts) == 0 {
		return "", &exitError{code: exitFailed, err: errors.New("there are no activations yet"),
			hint: "invoke an action first: `gust action invoke NAME`"}
	}
	return acts[0].ActivationID, nil
}

// activationArgs resolves "ID [FIELD]" or "--last [FIELD]".
func activationArgs(cmd *cobra.Command, c *client.Client, args []string, last bool) (id string, rest []string, err error) {
	if last {
		id, err = lastActivation(cmd, c)
		return id, args, err
	}
	if len(args) == 0 {
		return "", nil, usageError(cmd, "an activation id is required (or --last)")
	}
	return args[0], args[1:], nil
}

var activationHints = map[int]string{
	404: "`gust activation list` shows the activations; records may take a moment to appear after a non-blocking invocation",
	400: "an activation id is 32 hexadecimal characters",
}

// activationFields are the fields `activation get ID FIELD` accepts.
var activationFields = []string{"namespace", "name", "version", "subject", "activationId", "cause", "start", "end",
	"duration", "statusCode", "response", "logs", "annotations", "publish"}

func (a *app) newActivationGetCmd() *cobra.Command {
	var last, summary, logs bool
	cmd := &cobra.Command{
		Use:   "get (ACTIVATION_ID | --last) [FIELD]",
		Short: "Show an activation record",
		Long: `Show an activation record, or one FIELD of it:
` + wrapList(activationFields, "  ", 78) + `.`,
		Example: `  gust activation get --last
  gust activation get 0123456789abcdef0123456789abcdef response
  gust activation get --last --summary`,
		Args: argsBetween(0, 2, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			id, rest, err := activationArgs(cmd, c, args, last)
			if err != nil {
				return err
			}
			field := ""
			if len(rest) > 1 {
				return usageError(cmd, "too many arguments: %s", strings.Join(rest[1:], " "))
			}
			if len(rest) == 1 {
				field = rest[0]
				if !contains(activationFields, field) {
					return usageError(cmd, "invalid field filter %q; fields are %s", field, strings.Join(activationFields, ", "))
				}
			}
			var raw []byte
			act, err := c.GetActivation(client.CaptureBody(cmd.Context(), &raw), id)
			if err != nil {
				return failed(err, activationHints, "unable to get activation %q", id)
			}
			switch {
			case summary:
				return a.emit(raw, func(w io.Writer) error {
					fmt.Fprintf(w, "activation result for '/%s/%s' (%s at %s)\n", act.Namespace, act.Name,
						act.Response.Status, time.UnixMilli(act.End).Format(time.RFC3339))
					fmt.Fprintln(w, prettyJSON(act.Response.Result))
					return nil
				})
			case logs:
				return a.emit(raw, func(w io.Writer) error {
					for _, l := range act.Logs {
						fmt.Fprintln(w, stripLog(l))
					}
					return nil
				})
			case field != "":
				return a.emitField(raw, "activation", id, field)
			}
			return a.emit(raw, func(w io.Writer) error {
				a.ok("got activation %s", a.bold(id))
				fmt.Fprintln(w, prettyJSON(raw))
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&last, "last", "l", false, "the most recent activation")
	cmd.Flags().BoolVarP(&summary, "summary", "s", false, "print only the status and result")
	cmd.Flags().BoolVarP(&logs, "logs", "g", false, "print only the logs, without time stamps and stream names")
	return cmd
}

func (a *app) newActivationResultCmd() *cobra.Command {
	var last bool
	cmd := &cobra.Command{
		Use:     "result (ACTIVATION_ID | --last)",
		Short:   "Show the result of an activation",
		Example: "  gust activation result --last",
		Args:    argsBetween(0, 1, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			id, rest, err := activationArgs(cmd, c, args, last)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return usageError(cmd, "too many arguments: %s", strings.Join(rest, " "))
			}
			var raw []byte
			res, err := c.GetActivationResult(client.CaptureBody(cmd.Context(), &raw), id)
			if err != nil {
				return failed(err, activationHints, "unable to get the result of activation %q", id)
			}
			return a.emit(raw, func(w io.Writer) error {
				_, err := fmt.Fprintln(w, prettyJSON(res.Result))
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&last, "last", "l", false, "the most recent activation")
	return cmd
}

func (a *app) newActivationLogsCmd() *cobra.Command {
	var last, strip, follow bool
	cmd := &cobra.Command{
		Use:   "logs (ACTIVATION_ID | --last [ACTION_NAME])",
		Short: "Show the logs of an activation",
		Long: `Show the logs of an activation: the one named, or with --last the most recent
one (of ACTION_NAME when given). --follow then keeps printing the logs of that
action's new activations as they are recorded, until interrupted.`,
		Example: `  gust activation logs --last --strip
  gust activation logs --last hello --follow`,
		Args: argsBetween(0, 1, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			var id string
			var rest []string
			if last && len(args) == 1 {
				if id, err = lastActivationOf(cmd, c, args[0]); err != nil {
					return err
				}
			} else if id, rest, err = activationArgs(cmd, c, args, last); err != nil {
				return err
			}
			if len(rest) > 0 {
				return usageError(cmd, "too many arguments: %s", strings.Join(rest, " "))
			}
			var raw []byte
			logs, err := c.GetActivationLogs(client.CaptureBody(cmd.Context(), &raw), id)
			if err != nil {
				return failed(err, activationHints, "unable to get the logs of activation %q", id)
			}
			printLogs := func(w io.Writer, logs []string) {
				for _, l := range logs {
					if strip {
						l = stripLog(l)
					}
					fmt.Fprintln(w, l)
				}
			}
			if err := a.emit(raw, func(w io.Writer) error { printLogs(w, logs); return nil }); err != nil || !follow {
				return err
			}
			act, err := c.GetActivation(cmd.Context(), id)
			if err != nil {
				return failed(err, activationHints, "unable to get activation %q", id)
			}
			return a.watchActivations(cmd.Context(), c, watchSpec{
				name: recordNameFilter(act), since: act.Start, after: id,
				show: func(act *whisk.Activation, raw []byte) error {
					return a.streamRecord(raw, func(w io.Writer) { printLogs(w, act.Logs) })
				}})
		},
	}
	cmd.Flags().BoolVarP(&last, "last", "l", false, "the most recent activation")
	cmd.Flags().BoolVarP(&strip, "strip", "r", false, "strip time stamps and stream names")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing the logs of the action's new activations")
	return cmd
}

// lastActivationOf is the id of the most recent activation of an action.
func lastActivationOf(cmd *cobra.Command, c *client.Client, action string) (string, error) {
	name, err := activationNameFilter(c, action)
	if err != nil {
		return "", usageError(cmd, "%v", err)
	}
	acts, err := c.ListActivations(cmd.Context(), client.ActivationListOptions{Name: name, Limit: 1})
	if err != nil {
		return "", failed(err, nil, "unable to find the last activation of %s", action)
	}
	if len(acts) == 0 {
		return "", &exitError{code: exitFailed, err: fmt.Errorf("%s has no activations yet", action),
			hint: fmt.Sprintf("invoke it first: `gust action invoke %s`", action)}
	}
	return acts[0].ActivationID, nil
}

// logLine is OpenWhisk's log line: an RFC 3339 time, an optional stream
// name, then the text.
var logLine = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z\s*(?:(?:stdout|stderr):)?\s?(.*)$`)

func stripLog(l string) string {
	if m := logLine.FindStringSubmatch(l); m != nil {
		return m[1]
	}
	return l
}

func (a *app) newActivationPollCmd() *cobra.Command {
	var exit int
	var sinceSeconds, sinceMinutes, sinceHours, sinceDays int
	cmd := &cobra.Command{
		Use:   "poll [ACTION_NAME]",
		Short: "Print new activations and their logs as they are recorded",
		Long: `Print each activation as it is recorded, "Activation: 'NAME' (ID)" and its log
lines, until interrupted (or for --exit seconds). ACTION_NAME (NAME or
PACKAGE/NAME) keeps only that action's. With --since-* the activations started
that long ago are printed first. Gust streams the records as they are stored
(GET …/activations/stream); against a server without the stream, such as
OpenWhisk, the list is polled every two seconds, as wsk does. -o json prints
one record per line.`,
		Example: `  gust activation poll
  gust activation poll hello --since-minutes 5 --exit 60`,
		Args: argsBetween(0, 1, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				if name, err = activationNameFilter(c, args[0]); err != nil {
					return usageError(cmd, "%v", err)
				}
			}
			ctx := cmd.Context()
			if exit > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(exit)*time.Second)
				defer cancel()
			}
			back := time.Duration(sinceSeconds)*time.Second + time.Duration(sinceMinutes)*time.Minute +
				time.Duration(sinceHours)*time.Hour + time.Duration(sinceDays)*24*time.Hour
			var since int64
			if back > 0 {
				since = time.Now().Add(-back).UnixMilli()
			}
			err = a.watchActivations(ctx, c, watchSpec{name: name, since: since,
				ready: func() { fmt.Fprintln(a.stderr, "Polling for activation logs; interrupt (Ctrl-C) to stop.") },
				show: func(act *whisk.Activation, raw []byte) error {
					return a.streamRecord(raw, func(w io.Writer) {
						fmt.Fprintf(w, "\nActivation: '%s' (%s)\n", act.Name, act.ActivationID)
						for _, l := range act.Logs {
							fmt.Fprintln(w, l)
						}
					})
				}})
			return finishedWatching(err)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&exit, "exit", "e", 0, "stop after `SECONDS`")
	fl.IntVar(&sinceSeconds, "since-seconds", 0, "start `SECONDS` ago")
	fl.IntVar(&sinceMinutes, "since-minutes", 0, "start `MINUTES` ago")
	fl.IntVar(&sinceHours, "since-hours", 0, "start `HOURS` ago")
	fl.IntVar(&sinceDays, "since-days", 0, "start `DAYS` ago")
	return cmd
}
