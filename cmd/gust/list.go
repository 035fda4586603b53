package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/client"
)

// listSection is one collection `gust list` shows. wsk's list shows
// packages, actions, triggers and rules; Gust's client lists what the API
// client can list so far, and a new collection is one more entry in
// listSections (packages before actions, triggers and rules after, as wsk).
type listSection struct {
	name string
	// fetch returns the raw JSON of the collection and prints its table.
	fetch func(ctx context.Context, c *client.Client, in string) (raw json.RawMessage, print func(w io.Writer) error, err error)
}

// listSections are the collections of `gust list`. Of another namespace the
// key may list only the shared packages; actions and recent activations are
// shown for its own namespace alone.
func (a *app) listSections(nameSort bool, recent int, own bool) []listSection {
	sections := []listSection{
		a.packageList().section(nameSort), a.actionList().section(nameSort),
		a.triggerList().section(nameSort), a.ruleList().section(nameSort),
	}
	if !own {
		return sections[:1]
	}
	if recent <= 0 {
		return sections
	}
	return append(sections, listSection{
		name: "activations", fetch: func(ctx context.Context, c *client.Client, _ string) (json.RawMessage, func(io.Writer) error, error) {
			var raw []byte
			acts, err := c.ListActivations(client.CaptureBody(ctx, &raw), client.ActivationListOptions{Limit: recent})
			if err != nil {
				return nil, nil, err
			}
			return raw, func(w io.Writer) error {
				fmt.Fprintf(w, "%s (the latest %d)\n", a.bold("activations"), len(acts))
				return a.printActivations(w, acts)
			}, nil
		}})
}

func (a *app) newListCmd() *cobra.Command {
	var nameSort bool
	var recent int
	cmd := &cobra.Command{
		Use:   "list [/NAMESPACE]",
		Short: "List the entities of a namespace, and its latest activations",
		Long: `List what a namespace holds: its packages, its actions, then its latest
activations. Of another namespace, only the packages it shares are shown.`,
		Args: argsBetween(0, 1, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			in, ns := "", c.Namespace()
			if len(args) == 1 {
				ns = strings.Trim(args[0], "/")
				if ns == "" || strings.Contains(ns, "/") {
					return usageError(cmd, "give a namespace as /NAMESPACE")
				}
				in = "/" + ns
			}
			shown := realNamespace(ctx, c, ns)
			own := ns == client.DefaultNamespace || shown == realNamespace(ctx, c, client.DefaultNamespace)
			all := map[string]json.RawMessage{}
			var printers []func(io.Writer) error
			for _, s := range a.listSections(nameSort, recent, own) {
				raw, print, err := s.fetch(ctx, c, in)
				if err != nil {
					return failed(err, nil, "unable to list %s", s.name)
				}
				all[s.name] = raw
				printers = append(printers, print)
			}
			if a.machine() {
				return a.emitValue(all, nil)
			}
			fmt.Fprintf(a.stdout, "Entities in namespace: %s\n", a.bold(shown))
			for _, p := range printers {
				if err := p(a.stdout); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&nameSort, "name-sort", "n", false, "sort the actions by name")
	cmd.Flags().IntVar(&recent, "activations", 5, "show the latest `N` activations (0 = none)")
	return cmd
}
