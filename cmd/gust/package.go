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

func (a *app) newPackageCmd() *cobra.Command {
	return group("package", "Create, bind and manage packages",
		a.newPackagePutCmd(false), a.newPackagePutCmd(true), a.newPackageBindCmd(),
		a.newPackageGetCmd(), a.newPackageDeleteCmd(), a.newPackageListCmd())
}

// sharedFlag reads wsk's --shared yes|no into a publish value.
func sharedFlag(cmd *cobra.Command, v string) (*bool, error) {
	if !cmd.Flags().Changed("shared") {
		return nil, nil
	}
	var b bool
	switch strings.ToLower(v) {
	case "yes", "true":
		b = true
	case "no", "false":
	default:
		return nil, usageError(cmd, "--shared takes yes or no, not %q", v)
	}
	return &b, nil
}

func (a *app) newPackagePutCmd(update bool) *cobra.Command {
	var params, annots []string
	var paramFile, annotFile, shared string
	cmd := &cobra.Command{
		Use:   "create PACKAGE_NAME",
		Short: "Create a new package",
		Long: `Create a package: a named group of actions that share parameters. Actions
go in it with 'gust action create PACKAGE/ACTION ...'; --shared yes publishes
it, so that every namespace can list, get, invoke and bind it (but not change
it).

PACKAGE_NAME may be NAME or /NAMESPACE/NAME.`,
		Example: `  gust package create tools -p region eu -a description "Team tools"
  gust package create tools --shared yes`,
		Args: argsBetween(1, 1, "a package name is required"),
	}
	if update {
		cmd.Use = "update PACKAGE_NAME"
		cmd.Short = "Update an existing package, or create it if it does not exist"
		cmd.Long = `Update a package or binding. Parameters and annotations given replace the
stored ones (all of them); those not given are kept, and so is what --shared
does not change.`
		cmd.Example = `  gust package update tools -p region us
  gust package update tools --shared no`
		cmd.ValidArgsFunction = a.completePackages
	}
	addKeyValueFlags(cmd, &params, &paramFile, &annots, &annotFile)
	cmd.Flags().StringVar(&shared, "shared", "", "`yes` to publish the package to every namespace, no to keep it private")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := a.client(true)
		if err != nil {
			return err
		}
		name := args[0]
		publish, err := sharedFlag(cmd, shared)
		if err != nil {
			return err
		}
		put := &whisk.PackagePut{Publish: publish}
		if put.Parameters, err = keyValues(paramFile, params); err != nil {
			return usageError(cmd, "invalid parameters: %v", err)
		}
		if put.Annotations, err = keyValues(annotFile, annots); err != nil {
			return usageError(cmd, "invalid annotations: %v", err)
		}
		var raw []byte
		if _, err := c.PutPackage(client.CaptureBody(cmd.Context(), &raw), name, put, update); err != nil {
			verb := "create"
			if update {
				verb = "update"
			}
			return failed(err, map[int]string{
				409: fmt.Sprintf("it exists already; `gust package update %s ...` changes it", name),
			}, "unable to %s package %q", verb, name)
		}
		return a.emit(raw, func(io.Writer) error {
			if update {
				a.ok("updated package %s", a.bold(name))
			} else {
				a.ok("created package %s", a.bold(name))
			}
			return nil
		})
	}
	return cmd
}

func (a *app) newPackageBindCmd() *cobra.Command {
	var params, annots []string
	var paramFile, annotFile string
	cmd := &cobra.Command{
		Use:   "bind PACKAGE_NAME BINDING_NAME",
		Short: "Bind parameters to a package",
		Long: `Create a binding: a package of your own that refers to PACKAGE_NAME (yours, or
a shared one of another namespace such as /whisk.system/samples) with
parameters of its own. Its actions are the package's, invoked with the
package's parameters, then the binding's, then the action's own, then the
invocation's.`,
		Example: `  gust package bind /whisk.system/samples valhalla -p place Valhalla
  gust action invoke valhalla/greeting -r`,
		Args:              argsBetween(2, 2, "the package to bind to and the binding's name are required"),
		ValidArgsFunction: a.completePackages,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			target, name := args[0], args[1]
			b, err := c.ParseBinding(target)
			if err != nil {
				return usageError(cmd, "%v", err)
			}
			put := &whisk.PackagePut{Binding: &b}
			if put.Parameters, err = keyValues(paramFile, params); err != nil {
				return usageError(cmd, "invalid parameters: %v", err)
			}
			if put.Annotations, err = keyValues(annotFile, annots); err != nil {
				return usageError(cmd, "invalid annotations: %v", err)
			}
			var raw []byte
			if _, err := c.PutPackage(client.CaptureBody(cmd.Context(), &raw), name, put, false); err != nil {
				return failed(err, map[int]string{
					409: fmt.Sprintf("%q exists already, or %q is not a package", name, target),
					400: "bind to a package (not a binding); `gust package list /NAMESPACE` shows a namespace's shared packages",
				}, "unable to bind package %q", name)
			}
			return a.emit(raw, func(io.Writer) error {
				a.ok("created binding %s", a.bold(name))
				return nil
			})
		},
	}
	addKeyValueFlags(cmd, &params, &paramFile, &annots, &annotFile)
	return cmd
}

func (a *app) newPackageGetCmd() *cobra.Command {
	var summary bool
	cmd := &cobra.Command{
		Use:   "get PACKAGE_NAME [--summary]",
		Short: "Show a package, its actions and its feeds",
		Long: `Show a package's document with its actions and feeds. A binding shows the
bound package's actions, and its parameters overlaid on the bound package's.`,
		Example: `  gust package get /whisk.system/utils --summary
  gust package get tools -o json`,
		Args:              argsBetween(1, 1, "a package name is required"),
		ValidArgsFunction: a.completePackages,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			name := args[0]
			var raw []byte
			p, err := c.GetPackage(client.CaptureBody(cmd.Context(), &raw), name)
			if err != nil {
				return failed(err, map[int]string{404: "`gust package list` shows the packages"}, "unable to get package %q", name)
			}
			if summary {
				return a.emit(raw, func(w io.Writer) error { return a.printPackageSummary(w, p) })
			}
			return a.emit(raw, func(w io.Writer) error {
				a.ok("got package %s", a.bold(name))
				fmt.Fprintln(w, prettyJSON(raw))
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&summary, "summary", "s", false, "summarize the package and its actions: descriptions and parameters (* bound)")
	return cmd
}

// printPackageSummary prints wsk's summary of a package: its description
// and parameters, then each action's and feed's, labels right-aligned.
func (a *app) printPackageSummary(w io.Writer, p *whisk.PackageWithActions) error {
	fqn := "/" + p.Namespace + "/" + p.Name
	line := func(kind, name string, annotations, bound whisk.KeyValues) {
		desc, _ := annotations.GetString("description")
		head := fmt.Sprintf("%*s%s %s", 7-len(kind), "", a.bold(kind), name)
		if desc != "" {
			head += ": " + desc
		}
		fmt.Fprintln(w, head)
		params := documentedParams(annotations, bound)
		list := "none defined"
		if len(params) > 0 {
			list = strings.Join(params, ", ")
		}
		fmt.Fprintf(w, "   (%s: %s)\n", a.bold("parameters"), list)
	}
	line("package", fqn, p.Annotations, p.Parameters)
	for _, act := range p.Actions {
		line("action", fqn+"/"+act.Name, act.Annotations, nil)
	}
	for _, f := range p.Feeds {
		line("feed  ", fqn+"/"+f.Name, f.Annotations, nil)
	}
	return nil
}

// documentedParams lists bound parameters (marked *) and those the
// "parameters" annotation documents, sorted by name.
func documentedParams(annotations, bound whisk.KeyValues) []string {
	names := map[string]bool{}
	for _, p := range bound {
		names[p.Key] = true
	}
	var documented []struct {
		Name string `json:"name"`
	}
	if v := annotations.Get("parameters"); v != nil && json.Unmarshal(v, &documented) == nil {
		for _, d := range documented {
			if d.Name != "" && !names[d.Name] {
				names[d.Name] = false
			}
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	for i, n := range out {
		if names[n] {
			out[i] = "*" + n
		}
	}
	return out
}

func (a *app) newPackageDeleteCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete PACKAGE_NAME",
		Short: "Delete a package or a binding",
		Long: `Delete a package or a binding. A package that still holds actions is refused
unless --force is given, which deletes its actions too.`,
		Args:              argsBetween(1, 1, "a package name is required"),
		ValidArgsFunction: a.completePackages,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(true)
			if err != nil {
				return err
			}
			name := args[0]
			var raw []byte
			if _, err := c.DeletePackage(client.CaptureBody(cmd.Context(), &raw), name, force); err != nil {
				return failed(err, map[int]string{
					404: "`gust package list` shows the packages",
					409: fmt.Sprintf("delete its actions first, or delete them with it: `gust package delete %s --force`", name),
				}, "unable to delete package %q", name)
			}
			return a.emit(raw, func(io.Writer) error {
				a.ok("deleted package %s", a.bold(name))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete the package's actions as well")
	return cmd
}

func (a *app) newPackageListCmd() *cobra.Command {
	return listCommand(a, &cobra.Command{
		Use:   "list [/NAMESPACE]",
		Short: "List the packages of a namespace",
		Long: `List packages and bindings, newest first (--name-sort sorts the page by name
instead). Another namespace shows only the packages it shares.`,
		Example: `  gust package list
  gust package list /whisk.system`,
	}, a.packageList())
}

// printPackages prints wsk's package table: name and shared or private; a
// binding also names the package it binds.
func (a *app) printPackages(w io.Writer, pkgs []whisk.Package) error {
	fmt.Fprintln(w, a.bold("packages"))
	t := newTable(w)
	for _, p := range pkgs {
		visibility := "private"
		if p.Publish {
			visibility = "shared"
		}
		cells := []string{"/" + p.Namespace + "/" + p.Name, visibility}
		if !p.Binding.IsZero() {
			cells = append(cells, "binding to "+p.Binding.String())
		}
		t.row(cells...)
	}
	return t.flush()
}

// completePackages offers names for shell completion, asking the server.
func (a *app) completePackages(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return completeNames(a, (*client.Client).ListPackages, func(p whisk.Package) string { return p.Name }, cobra.ShellCompDirectiveNoFileComp)(cmd, args, toComplete)
}

// packageList is how the packages are listed, by `gust package list` and `gust list`.
func (a *app) packageList() entityList[whisk.Package] {
	return entityList[whisk.Package]{
		noun:  "packages",
		count: (*client.Client).CountPackages,
		list:  (*client.Client).ListPackages,
		sort: func(ps []whisk.Package) {
			sortByPath(ps, func(p whisk.Package) (string, string) { return p.Namespace, p.Name })
		},
		print: func(_ context.Context, w io.Writer, _ *client.Client, ps []whisk.Package) error {
			return a.printPackages(w, ps)
		},
	}
}
