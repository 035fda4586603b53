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
	"github.com/gustfaas/gust/internal/whisk"
)

func (a *app) newTriggerCmd() *cobra.Command {
	return group("trigger", "Create, fire and manage triggers",
		a.newTriggerCreateCmd(), a.newTriggerUpdateCmd(), a.newTriggerFireCmd(),
		a.newTriggerGetCmd(), a.newTriggerDeleteCmd(), a.newTriggerListCmd())
}

// triggerFields are the fields `trigger get NAME FIELD` accepts.
var triggerFields = []string{"namespace", "name", "version", "publish", "annotations", "parameters", "limits", "rules", "updated"}

// feedFailure is wsk's wording for a feed that refused a lifecycle event.
func feedFailure(feed string, err error) error {
	return fmt.Errorf("unable to configure feed '%s': %w", feed, err)
}

func (a *app) newTriggerCreateCmd() *cobra.Command {
	var params, annots []string
	var paramFile, annotFile, feed string
	cmd := &cobra.Command{
		Use:   "create TRIGGER_NAME",
		Short: "Create a new trigger",
		Long: `Create a trigger. With --feed, the trigger is connected to a feed as wsk does
it: the trigger is created with a "feed" annotation, then the feed action is
invoked (blocking) with lifecycleEvent CREATE, the trigger's name, the API key
and the -p parameters, which go to the feed rather than to the trigger. If the
feed refuses, the trigger is deleted again.`,
		Example: `  gust trigger create events -p source cli
  gust trigger create everyMinute --feed /whisk.system/alarms/alarm -p cron '*/1 * * * *'
  gust trigger create tick --feed /whisk.system/alarms/interval -p minutes 5 -p trigger_payload '{"n":1}'
  gust trigger create newYear --feed /whisk.system/alarms/once -p date 2030-01-01T00:00:00Z -p deleteAfterFire true`,
		Args: argsBetween(1, 1, "a trigger name is required"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			pkv, err := keyValues(paramFile, params)
			if err != nil {
				return usageError(cmd, "invalid parameters: %v", err)
			}
			akv, err := keyValues(annotFile, annots)
			if err != nil {
				return usageError(cmd, "invalid annotations: %v", err)
			}
			return a.createTrigger(cmd.Context(), c, args[0], feed, pkv, akv)
		},
	}
	addKeyValueFlags(cmd, &params, &paramFile, &annots, &annotFile)
	cmd.Flags().StringVarP(&feed, "feed", "f", "", "connect the trigger to the feed `ACTION_NAME` (e.g. /whisk.system/alarms/alarm)")
	return cmd
}

// createTrigger creates a trigger, through its feed when there is one.
func (a *app) createTrigger(ctx context.Context, c *client.Client, name, feed string, params, annots whisk.KeyValues) error {
	hints := map[int]string{409: fmt.Sprintf("it exists already; `gust trigger update %s ...` changes it", name)}
	put := &whisk.TriggerPut{Annotations: annots}
	var feedName string
	if feed != "" {
		var err error
		if feedName, err = c.FeedName(feed); err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--feed: %w", err)}
		}
		put.Annotations = put.Annotations.Set(whisk.AnnoFeed, feedName)
	} else {
		put.Parameters = params
	}
	var raw []byte
	if _, err := c.PutTrigger(client.CaptureBody(ctx, &raw), name, put, false); err != nil {
		return failed(err, hints, "unable to create trigger %q", name)
	}
	if feed != "" {
		stop := a.progress("configuring feed " + feedName)
		inv, err := c.InvokeFeed(ctx, feedName, client.FeedCreate, name, params)
		stop()
		if err != nil {
			a.printFeedAnswer(inv)
			if _, derr := c.DeleteTrigger(context.WithoutCancel(ctx), name); derr != nil {
				fmt.Fprintf(a.stderr, "warning: the trigger %s could not be deleted after its feed failed: %v\n", name, derr)
			}
			return failed(feedFailure(feedName, err), map[int]string{404: "`gust action list /whisk.system/alarms` shows the feeds"},
				"unable to create trigger %q", name)
		}
		if !a.machine() {
			a.ok("invoked %s with id %s", a.bold(feedName), a.bold(inv.ActivationID))
		}
	}
	return a.emit(raw, func(io.Writer) error {
		a.ok("created trigger %s", a.bold(name))
		return nil
	})
}

// printFeedAnswer shows what a feed said when it refused an event.
func (a *app) printFeedAnswer(inv *client.Invocation) {
	if inv == nil || a.machine() {
		return
	}
	var raw []byte
	switch {
	case inv.Activation != nil:
		raw, _ = json.Marshal(inv.Activation.Response.Result)
	case inv.Result != nil:
		raw = inv.Result
	}
	if len(raw) > 0 {
		fmt.Fprintln(a.stderr, prettyJSON(raw))
	}
}

func (a *app) newTriggerUpdateCmd() *cobra.Command {
	var params, annots []string
	var paramFile, annotFile string
	cmd := &cobra.Command{
		Use:   "update TRIGGER_NAME",
		Short: "Update an existing trigger, or create it if it does not exist",
		Long: `Update a trigger: -p parameters and -a annotations replace the trigger's own
(OpenWhisk replaces, it does not merge). For a trigger made with a feed, -p
parameters go to the feed instead (lifecycleEvent UPDATE), and -a annotations
are added to the trigger's, keeping its feed.`,
		Example: `  gust trigger update events -p source api
  gust trigger update everyMinute -p cron '*/5 * * * *'`,
		Args:              argsBetween(1, 1, "a trigger name is required"),
		ValidArgsFunction: a.completeTriggers,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			name := args[0]
			pkv, err := keyValues(paramFile, params)
			if err != nil {
				return usageError(cmd, "invalid parameters: %v", err)
			}
			akv, err := keyValues(annotFile, annots)
			if err != nil {
				return usageError(cmd, "invalid annotations: %v", err)
			}
			ctx := cmd.Context()
			t, err := c.GetTrigger(ctx, name)
			if client.StatusCodeOf(err) == 404 {
				return a.createTrigger(ctx, c, name, "", pkv, akv)
			}
			if err != nil {
				return failed(err, nil, "unable to get trigger %q", name)
			}
			var raw []byte
			capture := client.CaptureBody(ctx, &raw)
			feed := client.FeedAnnotation(t)
			if feed == "" {
				put := &whisk.TriggerPut{}
				if len(pkv) > 0 || paramFile != "" {
					put.Parameters = append(whisk.KeyValues{}, pkv...)
				}
				if len(akv) > 0 || annotFile != "" {
					put.Annotations = append(whisk.KeyValues{}, akv...)
				}
				if _, err := c.PutTrigger(capture, name, put, true); err != nil {
					return failed(err, nil, "unable to update trigger %q", name)
				}
			} else {
				if len(akv) > 0 {
					put := &whisk.TriggerPut{Annotations: t.Annotations.Merge(akv).Set(whisk.AnnoFeed, feed)}
					if _, err := c.PutTrigger(capture, name, put, true); err != nil {
						return failed(err, nil, "unable to update trigger %q", name)
					}
				}
				if len(pkv) > 0 || len(akv) == 0 {
					stop := a.progress("configuring feed " + feed)
					inv, err := c.InvokeFeed(capture, feed, client.FeedUpdate, name, pkv)
					stop()
					if err != nil {
						a.printFeedAnswer(inv)
						return failed(feedFailure(feed, err), nil, "unable to update trigger %q", name)
					}
				}
			}
			return a.emit(raw, func(io.Writer) error {
				a.ok("updated trigger %s", a.bold(name))
				return nil
			})
		},
	}
	addKeyValueFlags(cmd, &params, &paramFile, &annots, &annotFile)
	return cmd
}

func (a *app) newTriggerFireCmd() *cobra.Command {
	var params []string
	var paramFile string
	cmd := &cobra.Command{
		Use:   "fire TRIGGER_NAME",
		Short: "Fire a trigger",
		Long: `Fire a trigger: the action of each of its active rules is invoked with the
trigger's parameters overlaid by the -p parameters. The trigger's activation
lists what each rule did (gust activation get ID). A trigger without an active
rule records nothing.`,
		Example: `  gust trigger fire events -p name Ada
  gust trigger fire events -P payload.json`,
		Args:              argsBetween(1, 1, "a trigger name is required"),
		ValidArgsFunction: a.completeTriggers,
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
			var raw []byte
			id, err := c.FireTrigger(client.CaptureBody(cmd.Context(), &raw), name, body)
			if err != nil {
				return failed(err, map[int]string{404: "`gust trigger list` shows the triggers"}, "unable to fire trigger %q", name)
			}
			shown := qualified(c, name)
			if id == "" {
				return a.emitValue(map[string]any{}, func(io.Writer) error {
					a.ok("triggered %s, but it has no active rule: nothing ran and nothing was recorded", a.bold(shown))
					return nil
				})
			}
			return a.emit(raw, func(io.Writer) error {
				a.ok("triggered %s with id %s", a.bold(shown), a.bold(id))
				return nil
			})
		},
	}
	addKeyValueFlags(cmd, &params, &paramFile, nil, nil)
	return cmd
}

// qualified is "/namespace/name" as the client addresses name.
func qualified(c *client.Client, name string) string {
	n, err := c.ParseTriggerName(name)
	if err != nil {
		return name
	}
	return n.String()
}

func (a *app) newTriggerGetCmd() *cobra.Command {
	var summary bool
	cmd := &cobra.Command{
		Use:   "get TRIGGER_NAME [FIELD | --summary]",
		Short: "Show a trigger",
		Long: `Show a trigger's document, with the rules linked to it, or one FIELD of it:
` + wrapList(triggerFields, "  ", 78) + `.
For a trigger made with a feed, the feed's own view of it follows (its
lifecycleEvent READ): for an alarm, its schedule and whether it is active.`,
		Args:              argsBetween(1, 2, "a trigger name is required"),
		ValidArgsFunction: a.completeTriggers,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			name, field := args[0], ""
			if len(args) == 2 {
				field = args[1]
				if !contains(triggerFields, field) {
					return usageError(cmd, "invalid field filter %q; fields are %s", field, strings.Join(triggerFields, ", "))
				}
			}
			ctx := cmd.Context()
			var raw []byte
			t, err := c.GetTrigger(client.CaptureBody(ctx, &raw), name)
			if err != nil {
				return failed(err, map[int]string{404: "`gust trigger list` shows the triggers"}, "unable to get trigger %q", name)
			}
			switch {
			case summary:
				return a.emit(raw, func(w io.Writer) error { return a.printTriggerSummary(w, t) })
			case field != "":
				return a.emitField(raw, "trigger", name, field)
			}
			return a.emit(raw, func(w io.Writer) error {
				a.ok("got trigger %s", a.bold(name))
				fmt.Fprintln(w, prettyJSON(raw))
				feed := client.FeedAnnotation(t)
				if feed == "" {
					return nil
				}
				inv, err := c.InvokeFeed(ctx, feed, client.FeedRead, name, nil)
				if err != nil {
					fmt.Fprintf(a.stderr, "warning: the feed %s did not describe the trigger: %v\n", feed, err)
					a.printFeedAnswer(inv)
					return nil
				}
				result := inv.Result
				if inv.Activation != nil {
					result = inv.Activation.Response.Result
				}
				fmt.Fprintf(w, "%s %s\n%s\n", a.bold("feed"), feed, prettyJSON(result))
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&summary, "summary", "s", false, "summarize the trigger: description and parameters (* bound)")
	return cmd
}

func (a *app) printTriggerSummary(w io.Writer, t *whisk.Trigger) error {
	line := a.bold("trigger") + " /" + t.Namespace + "/" + t.Name
	if desc, _ := t.Annotations.GetString("description"); desc != "" {
		line += ": " + desc
	}
	fmt.Fprintln(w, line)
	var names []string
	for _, p := range t.Parameters {
		names = append(names, "*"+p.Key)
	}
	sort.Strings(names)
	list := "none defined"
	if len(names) > 0 {
		list = strings.Join(names, ", ")
	}
	fmt.Fprintf(w, "   (%s: %s)\n", a.bold("parameters"), list)
	return nil
}

func (a *app) newTriggerDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete TRIGGER_NAME",
		Short: "Delete a trigger",
		Long: `Delete a trigger. A trigger made with a feed is first taken off its feed
(lifecycleEvent DELETE), as wsk does; the trigger is deleted even if the feed
does not answer. Rules linked to it stay, inactive.`,
		Args:              argsBetween(1, 1, "a trigger name is required"),
		ValidArgsFunction: a.completeTriggers,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			name := args[0]
			ctx := cmd.Context()
			t, err := c.GetTrigger(ctx, name)
			if err != nil {
				return failed(err, map[int]string{404: "`gust trigger list` shows the triggers"}, "unable to get trigger %q", name)
			}
			if feed := client.FeedAnnotation(t); feed != "" {
				if inv, err := c.InvokeFeed(ctx, feed, client.FeedDelete, name, nil); err != nil {
					fmt.Fprintf(a.stderr, "warning: %v\n", feedFailure(feed, err))
					a.printFeedAnswer(inv)
				}
			}
			var raw []byte
			if _, err := c.DeleteTrigger(client.CaptureBody(ctx, &raw), name); err != nil {
				return failed(err, nil, "unable to delete trigger %q", name)
			}
			return a.emit(raw, func(io.Writer) error {
				a.ok("deleted trigger %s", a.bold(name))
				return nil
			})
		},
	}
}

func (a *app) newTriggerListCmd() *cobra.Command {
	return listCommand(a, &cobra.Command{
		Use:   "list [/NAMESPACE]",
		Short: "List the triggers of a namespace",
	}, a.triggerList())
}

func (a *app) printTriggers(w io.Writer, ts []whisk.Trigger) error {
	fmt.Fprintln(w, a.bold("triggers"))
	t := newTable(w)
	for _, tr := range ts {
		visibility := "private"
		if tr.Publish {
			visibility = "shared"
		}
		row := []string{"/" + tr.Namespace + "/" + tr.Name, visibility}
		if feed, _ := tr.Annotations.GetString(whisk.AnnoFeed); feed != "" {
			row = append(row, "feed "+feed)
		}
		t.row(row...)
	}
	return t.flush()
}

// completeTriggers offers names for shell completion, asking the server.
func (a *app) completeTriggers(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return completeNames(a, (*client.Client).ListTriggers, func(t whisk.Trigger) string { return t.Name }, cobra.ShellCompDirectiveNoFileComp)(cmd, args, toComplete)
}

// triggerList is how the triggers are listed, by `gust trigger list` and `gust list`.
func (a *app) triggerList() entityList[whisk.Trigger] {
	return entityList[whisk.Trigger]{
		noun:  "triggers",
		scope: namespaceScope,
		count: (*client.Client).CountTriggers,
		list:  (*client.Client).ListTriggers,
		sort: func(ts []whisk.Trigger) {
			sortByPath(ts, func(t whisk.Trigger) (string, string) { return t.Namespace, t.Name })
		},
		print: func(_ context.Context, w io.Writer, _ *client.Client, ts []whisk.Trigger) error {
			return a.printTriggers(w, ts)
		},
	}
}
