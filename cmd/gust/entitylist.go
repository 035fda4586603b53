package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/client"
)

// entityList is what the list command of one collection (actions,
// packages, triggers, rules) needs to know; the rest they share.
type entityList[T any] struct {
	noun  string                  // plural: "unable to list triggers"
	scope func(arg string) string // the listing the optional argument names; nil: as given
	count func(c *client.Client, ctx context.Context, in string) (int, error)
	list  func(c *client.Client, ctx context.Context, in string, opts client.ListOptions) ([]T, error)
	sort  func([]T)
	print func(ctx context.Context, w io.Writer, c *client.Client, items []T) error
}

// listCommand makes cmd, which carries the usage and help, the list command
// of a collection: a page (newest first, or sorted by name on request) or
// only the count, with wsk's flags.
func listCommand[T any](a *app, cmd *cobra.Command, l entityList[T]) *cobra.Command {
	var skip, limit int
	var nameSort, count bool
	cmd.Args = argsBetween(0, 1, "")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := a.client(true)
		if err != nil {
			return err
		}
		in := ""
		if len(args) == 1 {
			in = args[0]
			if l.scope != nil {
				in = l.scope(in)
			}
		}
		var raw []byte
		ctx := cmd.Context()
		if count {
			n, err := l.count(c, client.CaptureBody(ctx, &raw), in)
			if err != nil {
				return failed(err, nil, "unable to count %s", l.noun)
			}
			return a.emit(raw, func(w io.Writer) error { _, err := fmt.Fprintln(w, n); return err })
		}
		items, err := l.list(c, client.CaptureBody(ctx, &raw), in, client.ListOptions{Skip: skip, Limit: limit})
		if err != nil {
			return failed(err, map[int]string{400: "--limit is at most 200"}, "unable to list %s", l.noun)
		}
		if nameSort {
			l.sort(items)
		}
		return a.emit(raw, func(w io.Writer) error { return l.print(ctx, w, c, items) })
	}
	f := cmd.Flags()
	f.IntVarP(&skip, "skip", "s", 0, "skip the first `SKIP` "+l.noun)
	f.IntVarP(&limit, "limit", "l", defaultPageSize, "list at most `LIMIT` "+l.noun+" (at most 200; 0 = 200)")
	f.BoolVarP(&nameSort, "name-sort", "n", false, "sort the page by name")
	f.BoolVar(&count, "count", false, "print only the number of "+l.noun)
	return cmd
}

// namespaceScope reads a list argument that names a namespace: "/ns", "ns".
func namespaceScope(arg string) string { return "/" + strings.Trim(arg, "/") }

// sortByPath sorts entities by namespace and name, ignoring case, as wsk's
// --name-sort does.
func sortByPath[T any](items []T, path func(T) (namespace, name string)) {
	key := func(t T) string {
		ns, name := path(t)
		return strings.ToLower(ns + "/" + name)
	}
	sort.SliceStable(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
}

// section is the collection as one section of `gust list`: all of it, in
// the server's order or by name.
func (l entityList[T]) section(nameSort bool) listSection {
	return listSection{name: l.noun, fetch: func(ctx context.Context, c *client.Client, in string) (json.RawMessage, func(io.Writer) error, error) {
		var raw []byte
		items, err := l.list(c, client.CaptureBody(ctx, &raw), in, client.ListOptions{Limit: 0})
		if err != nil {
			return nil, nil, err
		}
		if nameSort {
			l.sort(items)
		}
		return raw, func(w io.Writer) error { return l.print(ctx, w, c, items) }, nil
	}}
}

// completeNames offers, for shell completion of an entity argument, the
// names the server lists; failures just offer nothing.
func completeNames[T any](a *app, list func(c *client.Client, ctx context.Context, in string, opts client.ListOptions) ([]T, error),
	name func(T) string, more cobra.ShellCompDirective) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, more
		}
		c, err := a.client(true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		items, err := list(c, cmd.Context(), "", client.ListOptions{Limit: 200})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names := make([]string, len(items))
		for i, t := range items {
			names[i] = name(t)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
