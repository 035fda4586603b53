package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/client"
	"github.com/gustfaas/gust/internal/whisk"
)

func (a *app) newRuleCmd() *cobra.Command {
	return group("rule", "Link triggers to actions",
		a.newRulePutCmd(false), a.newRulePutCmd(true), a.newRuleEnableCmd(true), a.newRuleEnableCmd(false),
		a.newRuleGetCmd(), a.newRuleStatusCmd(), a.newRuleDeleteCmd(), a.newRuleListCmd())
}

// ruleFields are the fields `rule get NAME FIELD` accepts.
var ruleFields = []string{"namespace", "name", "version", "publish", "annotations", "status", "trigger", "action", "updated"}

var ruleHints = map[int]string{404: "`gust rule list` shows the rules"}

func (a *app) newRulePutCmd(update bool) *cobra.Command {
	var annots []string
	var annotFile string
	cmd := &cobra.Command{
		Use:   "create RULE_NAME TRIGGER_NAME ACTION_NAME",
		Short: "Create a rule: fire ACTION_NAME whenever TRIGGER_NAME fires",
		Long: `Create a rule, active: every fire of the trigger invokes the action with the
trigger's parameters and the fire's payload. The action may be in a package,
including another namespace's shared package, and may be a sequence.`,
		Example: `  gust rule create onEvent events hello
  gust rule create everyMinuteLog everyMinute /whisk.system/utils/echo`,
		Args: argsBetween(3, 3, "a rule name, a trigger name and an action name are required"),
	}
	if update {
		cmd.Use = "update RULE_NAME TRIGGER_NAME ACTION_NAME"
		cmd.Short = "Update a rule's trigger and action, or create the rule"
		cmd.Long = `Update a rule: it keeps its status and moves to the given trigger and action.
Creates the rule, active, if it does not exist.`
		cmd.Example = `  gust rule update onEvent otherEvents hello`
	}
	cmd.Flags().StringArrayVarP(&annots, "annotation", "a", nil, "annotation `KEY VALUE` (repeatable; VALUE is JSON if it parses as JSON, else a string)")
	cmd.Flags().StringVarP(&annotFile, "annotation-file", "A", "", "`FILE` of annotations as a JSON object (-a values override it)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := a.client(true)
		if err != nil {
			return err
		}
		akv, err := keyValues(annotFile, annots)
		if err != nil {
			return usageError(cmd, "invalid annotations: %v", err)
		}
		spec := client.RuleSpec{Trigger: args[1], Action: args[2]}
		if len(akv) > 0 || annotFile != "" {
			spec.Annotations = akv
		}
		var raw []byte
		if _, err := c.PutRule(client.CaptureBody(cmd.Context(), &raw), args[0], spec, update); err != nil {
			verb := "create"
			if update {
				verb = "update"
			}
			return failed(err, map[int]string{
				409: fmt.Sprintf("it exists already; `gust rule update %s ...` changes it", args[0]),
				400: "the trigger and the action must exist: `gust trigger list`, `gust action list`",
			}, "unable to %s rule %q", verb, args[0])
		}
		return a.emit(raw, func(io.Writer) error {
			if update {
				a.ok("updated rule %s", a.bold(args[0]))
			} else {
				a.ok("created rule %s", a.bold(args[0]))
			}
			return nil
		})
	}
	return cmd
}

func (a *app) newRuleEnableCmd(enable bool) *cobra.Command {
	verb, status := "enable", whisk.RuleActive
	if !enable {
		verb, status = "disable", whisk.RuleInactive
	}
	return &cobra.Command{
		Use:               verb + " RULE_NAME",
		Short:             strings.ToUpper(verb[:1]) + verb[1:] + " a rule",
		Args:              argsBetween(1, 1, "a rule name is required"),
		ValidArgsFunction: a.completeRules,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			if err := c.SetRuleStatus(cmd.Context(), args[0], status); err != nil {
				return failed(err, ruleHints, "unable to %s rule %q", verb, args[0])
			}
			return a.emitValue(map[string]string{"status": status}, func(io.Writer) error {
				a.ok("%sd rule %s", verb, a.bold(args[0]))
				return nil
			})
		},
	}
}

func (a *app) newRuleStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "status RULE_NAME",
		Short:             "Show whether a rule is active",
		Args:              argsBetween(1, 1, "a rule name is required"),
		ValidArgsFunction: a.completeRules,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			r, err := c.GetRule(cmd.Context(), args[0])
			if err != nil {
				return failed(err, ruleHints, "unable to get the status of rule %q", args[0])
			}
			return a.emitValue(map[string]string{"status": r.Status}, func(io.Writer) error {
				a.ok("rule %s is %s", a.bold(args[0]), a.bold(r.Status))
				return nil
			})
		},
	}
}

func (a *app) newRuleGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get RULE_NAME [FIELD]",
		Short: "Show a rule",
		Long: `Show a rule, with its status, or one FIELD of it:
` + wrapList(ruleFields, "  ", 78) + `.`,
		Args:              argsBetween(1, 2, "a rule name is required"),
		ValidArgsFunction: a.completeRules,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			name, field := args[0], ""
			if len(args) == 2 {
				field = args[1]
				if !contains(ruleFields, field) {
					return usageError(cmd, "invalid field filter %q; fields are %s", field, strings.Join(ruleFields, ", "))
				}
			}
			var raw []byte
			if _, err := c.GetRule(client.CaptureBody(cmd.Context(), &raw), name); err != nil {
				return failed(err, ruleHints, "unable to get rule %q", name)
			}
			if field != "" {
				return a.emitField(raw, "rule", name, field)
			}
			return a.emit(raw, func(w io.Writer) error {
				a.ok("got rule %s", a.bold(name))
				fmt.Fprintln(w, prettyJSON(raw))
				return nil
			})
		},
	}
}

func (a *app) newRuleDeleteCmd() *cobra.Command {
	var disable bool
	cmd := &cobra.Command{
		Use:               "delete RULE_NAME",
		Short:             "Delete a rule",
		Args:              argsBetween(1, 1, "a rule name is required"),
		ValidArgsFunction: a.completeRules,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if disable {
				if err := c.SetRuleStatus(ctx, args[0], whisk.RuleInactive); err != nil {
					return failed(err, ruleHints, "unable to disable rule %q", args[0])
				}
			}
			var raw []byte
			if _, err := c.DeleteRule(client.CaptureBody(ctx, &raw), args[0]); err != nil {
				return failed(err, ruleHints, "unable to delete rule %q", args[0])
			}
			return a.emit(raw, func(io.Writer) error {
				a.ok("deleted rule %s", a.bold(args[0]))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&disable, "disable", false, "disable the rule before deleting it (as wsk; deleting unlinks it anyway)")
	return cmd
}

func (a *app) newRuleListCmd() *cobra.Command {
	return listCommand(a, &cobra.Command{
		Use:   "list [/NAMESPACE]",
		Short: "List the rules of a namespace, with their status",
	}, a.ruleList())
}

// printRules lists rules with their status, which a list does not carry:
// like wsk, it asks for each rule.
func (a *app) printRules(ctx context.Context, w io.Writer, c *client.Client, rules []whisk.Rule) error {
	fmt.Fprintln(w, a.bold("rules"))
	t := newTable(w)
	for _, r := range rules {
		visibility := "private"
		if r.Publish {
			visibility = "shared"
		}
		status := r.Status
		if status == "" {
			if full, err := c.GetRule(ctx, "/"+r.Namespace+"/"+r.Name); err == nil {
				status = full.Status
			}
		}
		t.row("/"+r.Namespace+"/"+r.Name, visibility, status,
			"/"+r.Trigger.Path+"/"+r.Trigger.Name+" → /"+r.Action.Path+"/"+r.Action.Name)
	}
	return t.flush()
}

// completeRules offers names for shell completion, asking the server.
func (a *app) completeRules(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return completeNames(a, (*client.Client).ListRules, func(r whisk.Rule) string { return r.Name }, cobra.ShellCompDirectiveNoFileComp)(cmd, args, toComplete)
}

// ruleList is how the rules are listed, by `gust rule list` and `gust list`.
func (a *app) ruleList() entityList[whisk.Rule] {
	return entityList[whisk.Rule]{
		noun:  "rules",
		scope: namespaceScope,
		count: (*client.Client).CountRules,
		list:  (*client.Client).ListRules,
		sort: func(rs []whisk.Rule) {
			sortByPath(rs, func(r whisk.Rule) (string, string) { return r.Namespace, r.Name })
		},
		print: a.printRules,
	}
}
