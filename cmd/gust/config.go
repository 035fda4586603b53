package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Server commands follow DESIGN §8: every setting has one name in three
// forms — flag --concurrent-invocations, environment
// GUST_CONCURRENT_INVOCATIONS, config-file key concurrent-invocations — and
// the precedence is flag > environment > file > default.

// configFlag names the flag that holds the config file's path.
const configFlag = "config"

// configAnnotation marks a command whose own flags are bound to the
// environment and the config file; its value is the config file flag's name.
const configAnnotation = "gust.config-file-flag"

// sourceAnnotation records on each bound flag where its value came from, for
// `gust config print`.
const sourceAnnotation = "gust.source"

// withConfig makes cmd a configurable server command: it gains a --config
// flag (unless it has one) and, before it runs, every one of its own flags
// not given on the command line is read from GUST_<NAME> or the config file.
// Flags inherited from parents (the client's --auth, -o) are left alone.
func withConfig(cmd *cobra.Command) *cobra.Command {
	if cmd.Flags().Lookup(configFlag) == nil && cmd.PersistentFlags().Lookup(configFlag) == nil {
		cmd.PersistentFlags().String(configFlag, "", "YAML `FILE` of settings, keyed by flag name (env GUST_CONFIG)")
	}
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[configAnnotation] = configFlag
	return cmd
}

// bindConfigFor binds the flags of the nearest configurable command on cmd's
// path; the root's PersistentPreRunE calls it for every command.
func bindConfigFor(cmd *cobra.Command) error {
	for c := cmd; c != nil; c = c.Parent() {
		if flag, ok := c.Annotations[configAnnotation]; ok {
			return bindConfig(c, flag)
		}
	}
	return nil
}

// envName is a flag's environment variable: GUST_ and the name in upper
// snake case.
func envName(flag string) string {
	return "GUST_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// bindConfig gives each of cmd's own flags (local and persistent, not
// inherited) that was not set on the command line the value of GUST_<NAME>
// or, failing that, of the key <name> in the YAML config file named by the
// flag fileFlag or by GUST_<FILEFLAG> (no file by default). Values from the
// environment or the file count as set (pflag's Changed), so code that asks
// "did the user choose this?" gets the right answer. An empty variable counts
// as unset. Unknown keys in the file are reported on stderr, not refused: one
// file may serve several server commands. Calling it twice is harmless.
func bindConfig(cmd *cobra.Command, fileFlag string) error {
	path := ""
	if f := ownFlag(cmd, fileFlag); f != nil && f.Changed {
		path = f.Value.String()
	} else if v := os.Getenv(envName(fileFlag)); v != "" {
		path = v
		if f != nil {
			_ = f.Value.Set(v)
			setSource(f, "env "+envName(fileFlag))
		}
	}
	file, err := readConfigFile(path)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	known := map[string]bool{}
	var errs []error
	for _, f := range ownFlags(cmd) {
		known[f.Name] = true
		if f.Name == fileFlag || f.Name == "help" {
			continue
		}
		if f.Changed {
			if f.Annotations[sourceAnnotation] == nil {
				setSource(f, "flag")
			}
			continue
		}
		if v := os.Getenv(envName(f.Name)); v != "" {
			if err := setFlag(f, v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
				continue
			}
			setSource(f, "env "+envName(f.Name))
			continue
		}
		node, ok := file[f.Name]
		if !ok {
			setSource(f, "default")
			continue
		}
		if err := setFromYAML(f, node); err != nil {
			errs = append(errs, fmt.Errorf("%s: key %s (line %d): %w", path, f.Name, node.Line, err))
			continue
		}
		setSource(f, "file "+path)
	}
	var unknown []string
	for k := range file {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: %q is not a setting of %q; ignored\n", path, k, cmd.CommandPath())
	}
	if len(errs) > 0 {
		return &exitError{code: exitUsage, err: errors.Join(errs...)}
	}
	return nil
}

// ownFlags are the flags a command defines itself, sorted by name.
func ownFlags(cmd *cobra.Command) []*pflag.Flag {
	seen := map[string]bool{}
	var out []*pflag.Flag
	add := func(f *pflag.Flag) {
		if !seen[f.Name] {
			seen[f.Name] = true
			out = append(out, f)
		}
	}
	cmd.LocalNonPersistentFlags().VisitAll(add)
	cmd.PersistentFlags().VisitAll(add)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func ownFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if f := cmd.PersistentFlags().Lookup(name); f != nil {
		return f
	}
	return cmd.LocalNonPersistentFlags().Lookup(name)
}

// setFlag sets a flag through its own value rather than a command's flag
// set: an ancestor's persistent flags are merged into its flag set only when
// that ancestor itself runs.
func setFlag(f *pflag.Flag, v string) error {
	if err := f.Value.Set(v); err != nil {
		var num *strconv.NumError
		if errors.As(err, &num) {
			return fmt.Errorf("not a valid %s", f.Value.Type())
		}
		return err
	}
	f.Changed = true
	return nil
}

func setSource(f *pflag.Flag, source string) {
	if f.Annotations == nil {
		f.Annotations = map[string][]string{}
	}
	f.Annotations[sourceAnnotation] = []string{source}
}

func readConfigFile(path string) (map[string]*yaml.Node, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := map[string]*yaml.Node{}
	if len(doc.Content) == 0 {
		return out, nil // an empty file
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s: expected a mapping of setting: value", path)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		out[m.Content[i].Value] = m.Content[i+1]
	}
	return out, nil
}

// setFromYAML sets a flag from a file value: a scalar as the flag would read
// it on the command line, a list for flags that take several values, a
// mapping for map flags.
func setFromYAML(f *pflag.Flag, n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return errors.New("no value")
		}
		return setFlag(f, n.Value)
	case yaml.SequenceNode:
		var items []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return errors.New("expected a list of plain values")
			}
			items = append(items, c.Value)
		}
		sv, ok := f.Value.(pflag.SliceValue)
		if !ok {
			return errors.New("takes one value, not a list")
		}
		if err := sv.Replace(items); err != nil {
			return err
		}
		f.Changed = true
		return nil
	case yaml.MappingNode:
		// Map flags (pflag's StringToString, StringToInt) read "k=v,k=v".
		if !strings.HasPrefix(f.Value.Type(), "stringTo") {
			return errors.New("takes one value, not a mapping")
		}
		var pairs []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("%s: expected a plain value", k.Value)
			}
			pairs = append(pairs, k.Value+"="+v.Value)
		}
		return setFlag(f, strings.Join(pairs, ","))
	}
	return errors.New("expected a value, a list or a mapping")
}

// secretFlag reports whether a flag's value must not be printed.
func secretFlag(name string) bool {
	for _, w := range []string{"key", "auth", "secret", "password", "token"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// defaultDataDir is where `gust serve` and `gust admin` keep their data
// unless --data says otherwise: $GUST_DATA, else $XDG_DATA_HOME/gust, else
// ~/.local/share/gust (the XDG default), else .gust in the working directory
// when there is no home.
func defaultDataDir() string {
	if d := os.Getenv("GUST_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "gust")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".local", "share", "gust")
	}
	return ".gust"
}

// storePath is the SQLite database inside a data directory.
func storePath(dataDir string) string { return filepath.Join(dataDir, "gust.db") }

func (a *app) newConfigCmd(root *cobra.Command) *cobra.Command {
	var file string
	printCmd := &cobra.Command{
		Use:   "print [COMMAND]",
		Short: "Show the effective settings of a server command (default: serve)",
		Long: `Show the settings COMMAND (default serve) would run with, given the
environment and the config file: each value with where it came from. Secrets
(settings named *key*, *auth*, *secret*, *password*, *token*) are redacted.

Every server setting has one name in three forms, and the first one found wins:
  flag         --concurrent-invocations 10
  environment  GUST_CONCURRENT_INVOCATIONS=10
  config file  concurrent-invocations: 10   (YAML; --config FILE or GUST_CONFIG)
  default      as listed by 'gust serve --help'

The output is YAML, so it can be saved as a config file to start from (fill
in the redacted values, or leave them to the environment).`,
		Example: `  gust config print
  GUST_INVOCATIONS_PER_MINUTE=0 gust config print --config gust.yaml
  gust config print -o json`,
		Args: argsBetween(0, 1, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "serve"
			if len(args) == 1 {
				name = args[0]
			}
			target, _, err := root.Find([]string{name})
			if err != nil || target == root || target.Annotations[configAnnotation] == "" {
				return usageError(cmd, "%q is not a configurable server command", name)
			}
			fileFlag := target.Annotations[configAnnotation]
			if file != "" {
				f := ownFlag(target, fileFlag)
				if f == nil {
					return fmt.Errorf("%s has no --%s flag", target.CommandPath(), fileFlag)
				}
				if err := setFlag(f, file); err != nil {
					return err
				}
			}
			if err := bindConfig(target, fileFlag); err != nil {
				return err
			}
			return a.printConfig(target, fileFlag)
		},
	}
	printCmd.Flags().StringVar(&file, configFlag, "", "YAML `FILE` of settings (env GUST_CONFIG)")
	return group("config", "Inspect the configuration of server commands", printCmd)
}

type configEntry struct {
	Name   string `json:"name"`
	Value  any    `json:"value"`
	Source string `json:"source"`
	Env    string `json:"env"`
}

func (a *app) printConfig(target *cobra.Command, fileFlag string) error {
	var entries []configEntry
	for _, f := range ownFlags(target) {
		if f.Name == "help" || f.Name == fileFlag {
			continue
		}
		value := typedValue(f)
		if text, ok := value.(string); ok {
			value = redactURL(text) // postgres://user:password@… (cluster.go)
		}
		if secretFlag(f.Name) && f.Value.String() != "" && f.Value.String() != "[]" {
			value = "<redacted>"
		}
		source := "default"
		if s := f.Annotations[sourceAnnotation]; len(s) > 0 {
			source = s[0]
		}
		entries = append(entries, configEntry{Name: f.Name, Value: value, Source: source, Env: envName(f.Name)})
	}
	if a.machine() {
		return a.emitValue(entries, nil)
	}
	return writeConfigYAML(a.stdout, target.CommandPath(), entries)
}

// typedValue is a flag's value as YAML would read it back: a list for
// multi-valued flags, text for string flags, and otherwise whatever the text
// resolves to (a number, a boolean), so that "4" prints as 4.
func typedValue(f *pflag.Flag) any {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	text := f.Value.String()
	if f.Value.Type() == "string" {
		return text
	}
	if strings.HasPrefix(f.Value.Type(), "stringTo") {
		if m, ok := parseMapFlag(text); ok {
			return m
		}
		return text
	}
	var v any
	if yaml.Unmarshal([]byte(text), &v) != nil || v == nil {
		return text
	}
	switch v.(type) {
	case int, bool, float64:
		return v
	}
	return text
}

// parseMapFlag reads back what pflag's map values print: "[k=v,k=v]", the
// pairs in CSV (StringToString quotes values with commas).
func parseMapFlag(text string) (map[string]any, bool) {
	inner := strings.TrimSuffix(strings.TrimPrefix(text, "["), "]")
	out := map[string]any{}
	if inner == "" {
		return out, true
	}
	pairs, err := csv.NewReader(strings.NewReader(inner)).Read()
	if err != nil {
		return nil, false
	}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, false
		}
		var typed any
		if yaml.Unmarshal([]byte(v), &typed) == nil {
			if n, isInt := typed.(int); isInt {
				out[k] = n
				continue
			}
		}
		out[k] = v
	}
	return out, true
}

// writeConfigYAML prints settings as a YAML file, one per line with the
// source of its value as a comment, so that it can be saved and edited.
func writeConfigYAML(w io.Writer, command string, entries []configEntry) error {
	fmt.Fprintf(w, "# effective settings of `%s` (flag > env GUST_* > config file > default)\n", command)
	lines := make([]string, len(entries))
	width := 0
	for i, e := range entries {
		var v yaml.Node
		if err := v.Encode(e.Value); err != nil {
			return err
		}
		if v.Kind == yaml.SequenceNode || v.Kind == yaml.MappingNode {
			v.Style = yaml.FlowStyle
		}
		doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: e.Name}, &v}}
		out, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		lines[i] = strings.TrimRight(string(out), "\n")
		if !strings.Contains(lines[i], "\n") {
			width = max(width, len(lines[i]))
		}
	}
	for i, e := range entries {
		if strings.Contains(lines[i], "\n") {
			fmt.Fprintf(w, "# %s\n%s\n", e.Source, lines[i])
			continue
		}
		fmt.Fprintf(w, "%-*s  # %s\n", width, lines[i], e.Source)
	}
	return nil
}
