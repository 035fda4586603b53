package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// configTarget is a server command with one flag of each kind that matters.
type configTarget struct {
	cmd     *cobra.Command
	workers int
	name    string
	kinds   []string
	apiKey  string
	cells   map[string]int
	ran     bool
}

func newConfigTarget() *configTarget {
	t := &configTarget{}
	t.cmd = &cobra.Command{Use: "srv", RunE: func(*cobra.Command, []string) error { t.ran = true; return nil }}
	t.cmd.Flags().IntVar(&t.workers, "max-workers", 4, "")
	t.cmd.Flags().StringVar(&t.name, "node-name", "default-node", "")
	t.cmd.Flags().StringSliceVar(&t.kinds, "kinds", []string{"nodejs"}, "")
	t.cmd.Flags().StringVar(&t.apiKey, "api-key", "", "")
	t.cmd.Flags().StringToIntVar(&t.cells, "stem-cells", map[string]int{"nodejs:20": 1}, "")
	withConfig(t.cmd)
	return t
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBindConfigPrecedence(t *testing.T) {
	file := writeFile(t, "gust.yaml", "max-workers: 8\nnode-name: from-file\nkinds: [python, go]\n")
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		workers int
		node    string
		kinds   string
	}{
		{name: "defaults", workers: 4, node: "default-node", kinds: "nodejs"},
		{name: "file over default", args: []string{"--config", file}, workers: 8, node: "from-file", kinds: "python,go"},
		{name: "file from GUST_CONFIG", env: map[string]string{"GUST_CONFIG": file}, workers: 8, node: "from-file", kinds: "python,go"},
		{name: "env over file", args: []string{"--config", file}, env: map[string]string{"GUST_MAX_WORKERS": "16", "GUST_KINDS": "a,b"},
			workers: 16, node: "from-file", kinds: "a,b"},
		{name: "flag over env", args: []string{"--config", file, "--max-workers", "32"}, env: map[string]string{"GUST_MAX_WORKERS": "16"},
			workers: 32, node: "from-file", kinds: "python,go"},
		{name: "empty env is unset", args: []string{"--config", file}, env: map[string]string{"GUST_NODE_NAME": ""},
			workers: 8, node: "from-file", kinds: "python,go"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ct := newConfigTarget()
			ct.cmd.SetArgs(tc.args)
			ct.cmd.PreRunE = func(cmd *cobra.Command, _ []string) error { return bindConfigFor(cmd) }
			if err := ct.cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if ct.workers != tc.workers || ct.name != tc.node || strings.Join(ct.kinds, ",") != tc.kinds {
				t.Fatalf("workers %d node %q kinds %v; want %d %q %s", ct.workers, ct.name, ct.kinds, tc.workers, tc.node, tc.kinds)
			}
			// Values from the environment or the file count as chosen.
			if tc.workers != 4 && !ct.cmd.Flags().Changed("max-workers") {
				t.Fatal("max-workers not marked as set")
			}
		})
	}
}

func TestBindConfigMapFromFile(t *testing.T) {
	ct := newConfigTarget()
	if err := ct.cmd.ParseFlags([]string{"--config", writeFile(t, "c.yaml", "stem-cells:\n  python:3.11: 2\n  go:1.22: 0\n")}); err != nil {
		t.Fatal(err)
	}
	if err := bindConfig(ct.cmd, configFlag); err != nil {
		t.Fatal(err)
	}
	if len(ct.cells) != 2 || ct.cells["python:3.11"] != 2 || ct.cells["go:1.22"] != 0 {
		t.Fatalf("stem cells %v", ct.cells)
	}
}

func TestBindConfigErrors(t *testing.T) {
	cases := []struct {
		name, file, want string
		env              map[string]string
	}{
		{name: "bad value in file", file: "max-workers: many\n", want: `key max-workers (line 1): not a valid int`},
		{name: "list for a scalar", file: "node-name: [a, b]\n", want: "key node-name (line 1): takes one value, not a list"},
		{name: "not a mapping", file: "- a\n- b\n", want: "expected a mapping of setting: value"},
		{name: "bad env", env: map[string]string{"GUST_MAX_WORKERS": "x"}, want: `GUST_MAX_WORKERS="x": not a valid int`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ct := newConfigTarget()
			if tc.file != "" {
				if err := ct.cmd.ParseFlags([]string{"--config", writeFile(t, "c.yaml", tc.file)}); err != nil {
					t.Fatal(err)
				}
			}
			err := bindConfig(ct.cmd, configFlag)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestBindConfigWarnsAboutUnknownKeys(t *testing.T) {
	ct := newConfigTarget()
	var stderr bytes.Buffer
	ct.cmd.SetErr(&stderr)
	path := writeFile(t, "c.yaml", "max-workers: 2\nmax-wrokers: 3\n")
	if err := ct.cmd.ParseFlags([]string{"--config", path}); err != nil {
		t.Fatal(err)
	}
	if err := bindConfig(ct.cmd, configFlag); err != nil {
		t.Fatal(err)
	}
	want := "warning: " + path + `: "max-wrokers" is not a setting of "srv"; ignored` + "\n"
	if stderr.String() != want || ct.workers != 2 {
		t.Fatalf("stderr %q, workers %d", stderr.String(), ct.workers)
	}
}

func TestConfigPrint(t *testing.T) {
	t.Setenv("GUST_DATA", "/srv/gust")
	file := writeFile(t, "gust.yaml", "config: ignored\n")
	var stdout, stderr bytes.Buffer
	code := run([]string{"config", "print", "admin", "--config", file}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := "# effective settings of `gust admin` (flag > env GUST_* > config file > default)\n" +
		"bus: \"\"           # default\n" +
		"bus-prefix: gust  # default\n" +
		"data: /srv/gust   # env GUST_DATA\n" +
		"store: \"\"         # default\n"
	if stdout.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", stdout.String(), want)
	}
}

func TestConfigPrintRedactsSecrets(t *testing.T) {
	t.Setenv("GUST_API_KEY", "s3cret")
	ct := newConfigTarget()
	if err := bindConfig(ct.cmd, configFlag); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	a := &app{stdout: &out, g: globals{output: "table"}}
	if err := a.printConfig(ct.cmd, configFlag); err != nil {
		t.Fatal(err)
	}
	want := "# effective settings of `srv` (flag > env GUST_* > config file > default)\n" +
		"api-key: <redacted>           # env GUST_API_KEY\n" +
		"kinds: [nodejs]               # default\n" +
		"max-workers: 4                # default\n" +
		"node-name: default-node       # default\n" +
		"stem-cells: {'nodejs:20': 1}  # default\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// The printed settings are a config file that gives the same settings.
func TestConfigPrintRoundTrips(t *testing.T) {
	ct := newConfigTarget()
	if err := ct.cmd.ParseFlags([]string{"--max-workers", "9", "--kinds", "a,b", "--stem-cells", "x:1=2,y=0", "--node-name", "n: 1"}); err != nil {
		t.Fatal(err)
	}
	if err := bindConfig(ct.cmd, configFlag); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	a := &app{stdout: &out, g: globals{output: "table"}}
	if err := a.printConfig(ct.cmd, configFlag); err != nil {
		t.Fatal(err)
	}
	again := newConfigTarget()
	if err := again.cmd.ParseFlags([]string{"--config", writeFile(t, "printed.yaml", out.String())}); err != nil {
		t.Fatal(err)
	}
	if err := bindConfig(again.cmd, configFlag); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if again.workers != 9 || strings.Join(again.kinds, ",") != "a,b" || again.cells["x:1"] != 2 || len(again.cells) != 2 || again.name != "n: 1" {
		t.Fatalf("round trip: %d %v %v %q\n%s", again.workers, again.kinds, again.cells, again.name, out.String())
	}
}

func TestDefaultDataDirAndStorePath(t *testing.T) {
	t.Setenv("GUST_DATA", "")
	t.Setenv("XDG_DATA_HOME", "/xdg")
	if got := defaultDataDir(); got != "/xdg/gust" {
		t.Fatalf("with XDG_DATA_HOME: %s", got)
	}
	t.Setenv("GUST_DATA", "/data")
	if got := defaultDataDir(); got != "/data" {
		t.Fatalf("with GUST_DATA: %s", got)
	}
	t.Setenv("GUST_DATA", "")
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/ada")
	if got := defaultDataDir(); got != "/home/ada/.local/share/gust" {
		t.Fatalf("default: %s", got)
	}
	if got := storePath("/data"); got != "/data/gust.db" {
		t.Fatalf("storePath: %s", got)
	}
}

func TestEnvName(t *testing.T) {
	if got := envName("concurrent-invocations"); got != "GUST_CONCURRENT_INVOCATIONS" {
		t.Fatal(got)
	}
}

// A server command registered under the root gets its configuration bound
// before it runs, even when it has a PersistentPreRunE of its own.
func TestServerCommandIsBoundThroughRoot(t *testing.T) {
	t.Setenv("GUST_MAX_WORKERS", "12")
	ct := newConfigTarget()
	ownHookRan := false
	ct.cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		ownHookRan = true
		if ct.workers != 12 {
			t.Errorf("the command's own hook ran before the configuration was bound: workers %d", ct.workers)
		}
		return nil
	}
	a := newApp(&bytes.Buffer{}, &bytes.Buffer{})
	a.root.AddCommand(ct.cmd)
	a.root.SetArgs([]string{"srv", "--node-name", "n1"})
	if err := a.root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !ct.ran || !ownHookRan || ct.workers != 12 || ct.name != "n1" {
		t.Fatalf("ran %v, hook %v, workers %d, name %q", ct.ran, ownHookRan, ct.workers, ct.name)
	}
}
