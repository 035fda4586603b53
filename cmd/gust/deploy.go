package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/client"
)

// deployFlags are the flags of deploy and undeploy.
type deployFlags struct {
	file    string
	project string
	dryRun  bool
}

func (a *app) newDeployCmd() *cobra.Command {
	f := &deployFlags{}
	cmd := &cobra.Command{
		Use:   "deploy -f MANIFEST",
		Short: "Deploy the packages, actions, triggers, rules and APIs of a wskdeploy manifest",
		Long: `Deploy what a manifest in wskdeploy's format declares: packages with their
inputs, actions (code files, or directories zipped for you, relative to the
manifest), sequences, triggers with feeds, rules and APIs.

The deploy compares the manifest with the server and shows its plan: what it
creates, updates, deletes and leaves unchanged. Entities are marked with the
whisk-managed annotation of their project (the manifest's project name, else
its directory's name); an entity a previous deploy of the project made that
the manifest no longer declares is deleted. Deploying an unchanged manifest
changes nothing. --dry-run shows the plan only.

Values may name environment variables: "$NAME" as a whole, or ${NAME}.`,
		Example: `  gust deploy -f manifest.yaml
  gust deploy -f manifest.yaml --dry-run
  gust deploy -f manifest.yaml -o json`,
		Args: argsBetween(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.file == "" {
				return usageError(cmd, "the manifest is required: -f manifest.yaml")
			}
			return a.deploy(cmd.Context(), f, false)
		},
	}
	addDeployFlags(cmd, f)
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "show the plan and change nothing")
	return cmd
}

func (a *app) newUndeployCmd() *cobra.Command {
	f := &deployFlags{}
	cmd := &cobra.Command{
		Use:   "undeploy -f MANIFEST",
		Short: "Delete what deploying a manifest made",
		Long: `Delete every entity the manifest's project deployed (those whose whisk-managed
annotation names the project), dependents first: APIs, rules, triggers (taken
off their feeds), sequences, actions, then packages.`,
		Example: `  gust undeploy -f manifest.yaml`,
		Args:    argsBetween(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.file == "" {
				return usageError(cmd, "the manifest is required: -f manifest.yaml")
			}
			return a.deploy(cmd.Context(), f, true)
		},
	}
	addDeployFlags(cmd, f)
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "show what would be deleted and delete nothing")
	return cmd
}

func addDeployFlags(cmd *cobra.Command, f *deployFlags) {
	fl := cmd.Flags()
	fl.StringVarP(&f.file, "manifest", "f", "", "the manifest `FILE` (wskdeploy's format)")
	fl.StringVar(&f.project, "project", "", "the project `NAME` that owns the entities (default: the manifest's, else its directory's name)")
}

func (a *app) deploy(ctx context.Context, f *deployFlags, undeploy bool) error {
	d, err := loadManifest(f.file, f.project)
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("unable to read the manifest: %w", err)}
	}
	c, err := a.client(true)
	if err != nil {
		return err
	}
	_, err = a.deployLoaded(ctx, c, d, undeploy, f.dryRun)
	return err
}

// deployLoaded plans, prints the plan and, unless dryRun, applies it.
func (a *app) deployLoaded(ctx context.Context, c *client.Client, d *deployment, undeploy, dryRun bool) (*deployPlan, error) {
	p, err := newPlanner(ctx, c)
	if err != nil {
		return nil, err
	}
	plan, err := p.plan(ctx, d, undeploy)
	if err != nil {
		return nil, err
	}
	if err := a.emitValue(plan, func(w io.Writer) error { return a.printPlan(w, plan, dryRun) }); err != nil {
		return nil, err
	}
	if dryRun {
		return plan, nil
	}
	if err := a.applyPlan(ctx, c, p, plan); err != nil {
		return nil, err
	}
	if !a.machine() {
		if n := len(plan.Items) - plan.count(opUnchanged); n == 0 {
			a.ok("project %s is up to date", a.bold(plan.Project))
		} else if undeploy {
			a.ok("undeployed project %s", a.bold(plan.Project))
		} else {
			a.ok("deployed project %s", a.bold(plan.Project))
		}
	}
	return plan, nil
}

func (a *app) printPlan(w io.Writer, plan *deployPlan, dryRun bool) error {
	t := newTable(w)
	t.row("OP", "KIND", "NAME", "CHANGES")
	for _, it := range plan.Items {
		op := it.Op
		switch op {
		case opCreate:
			op = a.paint("32", op)
		case opUpdate:
			op = a.paint("33", op)
		case opDelete:
			op = a.paint("31", op)
		}
		t.row(op, it.Kind, it.Name, strings.Join(it.Changes, ","))
	}
	if err := t.flush(); err != nil {
		return err
	}
	what := "plan"
	if dryRun {
		what = "plan (dry run, nothing changed)"
	}
	_, err := fmt.Fprintf(w, "%s for project %s: %d to create, %d to update, %d to delete, %d unchanged\n", what, plan.Project,
		plan.count(opCreate), plan.count(opUpdate), plan.count(opDelete), plan.count(opUnchanged))
	return err
}
