package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/client"
)

func (a *app) newNamespaceCmd() *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List the namespaces the API key may use",
		Args:  argsBetween(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			var raw []byte
			names, err := c.ListNamespaces(client.CaptureBody(cmd.Context(), &raw))
			if err != nil {
				return failed(err, nil, "unable to list namespaces")
			}
			return a.emit(raw, func(w io.Writer) error {
				fmt.Fprintln(w, a.bold("namespaces"))
				for _, n := range names {
					fmt.Fprintln(w, n)
				}
				return nil
			})
		},
	}
	get := &cobra.Command{
		Use:   "get [NAMESPACE]",
		Short: "Show a namespace's limits",
		Long: `Show the effective limits of a namespace (default: the configured one):
its throttles, where 0 means unlimited, and the ranges allowed for action limits.`,
		Args: argsBetween(0, 1, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			ns := ""
			if len(args) == 1 {
				ns = strings.TrimPrefix(args[0], "/")
			}
			var raw []byte
			limits, err := c.GetLimits(client.CaptureBody(cmd.Context(), &raw), ns)
			if err != nil {
				return failed(err, nil, "unable to get the limits of namespace %q", or(ns, c.Namespace()))
			}
			return a.emit(raw, func(w io.Writer) error {
				fmt.Fprintf(w, "%s %s\n", a.bold("namespace"), realNamespace(cmd.Context(), c, or(ns, c.Namespace())))
				return printLimits(w, limits)
			})
		},
	}
	return group("namespace", "Work with namespaces", list, get)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// realNamespace names "_" by asking the server which namespace the key owns.
func realNamespace(ctx context.Context, c *client.Client, ns string) string {
	if ns != client.DefaultNamespace {
		return ns
	}
	if names, err := c.ListNamespaces(ctx); err == nil && len(names) == 1 {
		return names[0]
	}
	return ns
}

func printLimits(w io.Writer, l *client.Limits) error {
	t := newTable(w)
	throttle := func(label string, v *int64, unit string) {
		if v == nil {
			return
		}
		if *v == 0 {
			t.row(label, "unlimited")
			return
		}
		t.row(label, strconv.FormatInt(*v, 10)+unit)
	}
	span := func(label string, min, max *int64, unit string) {
		if min == nil && max == nil {
			return
		}
		show := func(v *int64) string {
			if v == nil {
				return "?"
			}
			return strconv.FormatInt(*v, 10)
		}
		t.row(label, show(min)+" – "+show(max)+unit)
	}
	throttle("invocations per minute", l.InvocationsPerMinute, "")
	throttle("concurrent invocations", l.ConcurrentInvocations, "")
	throttle("trigger fires per minute", l.FiresPerMinute, "")
	span("action memory", l.MinActionMemory, l.MaxActionMemory, " MB")
	span("action timeout", l.MinActionTimeout, l.MaxActionTimeout, " ms")
	span("action logs", l.MinActionLogs, l.MaxActionLogs, " MB")
	span("action concurrency", l.MinActionConcurrency, l.MaxActionConcurrency, "")
	if l.MaxParameterSize != nil {
		t.row("parameters size", "≤ "+l.MaxParameterSize.String())
	}
	if l.MaxPayloadSize != nil {
		t.row("invocation payload", "≤ "+l.MaxPayloadSize.String())
	}
	throttle("instances per action", l.MaxActionInstances, "")
	if len(l.AllowedKinds) > 0 {
		t.row("allowed kinds", strings.Join(l.AllowedKinds, ", "))
	}
	if l.StoreActivations != nil {
		t.row("stores activations", strconv.FormatBool(*l.StoreActivations))
	}
	return t.flush()
}
