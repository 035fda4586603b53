package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gustfaas/gust/internal/client"
)

// The client shares wsk's configuration file, ~/.wskprops (or the file named
// by WSK_CONFIG_FILE): KEY=VALUE lines, of which gust reads and writes
// APIHOST, AUTH and NAMESPACE and keeps every other line as it is.

// defaultAPIHost is where `gust serve` listens by default: OpenWhisk
// standalone's port, so that a fresh install needs only a key.
const defaultAPIHost = "localhost:3233"

// propsPath is the wsk configuration file. WSK_CONFIG_FILE wins even when
// empty, as in wsk, where an empty value means "no file".
func propsPath() (string, error) {
	if p, ok := os.LookupEnv("WSK_CONFIG_FILE"); ok {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cannot find the home directory for ~/.wskprops: %w", err)
	}
	return filepath.Join(home, ".wskprops"), nil
}

// parsePropLine reads one line as wsk does: anything after "#" is a comment;
// the key and value are trimmed.
func parsePropLine(line string) (key, value string, ok bool) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	key, value, ok = strings.Cut(strings.TrimSpace(line), "=")
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	return key, value, ok && key != ""
}

// readProps reads a wsk configuration file; a missing file is empty.
func readProps(path string) (map[string]string, error) {
	props := map[string]string{}
	if path == "" {
		return props, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return props, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := parsePropLine(sc.Text()); ok {
			props[k] = v
		}
	}
	return props, sc.Err()
}

// writeProps sets and removes keys in a wsk configuration file, keeping its
// other lines and comments in place and appending new keys in sorted order.
// The file holds an API key, so it is written 0600, atomically.
func writeProps(path string, set map[string]string, unset []string) error {
	if path == "" {
		return errors.New("WSK_CONFIG_FILE is set but empty: there is no file to write")
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	drop := map[string]bool{}
	for _, k := range unset {
		drop[k] = true
	}
	done := map[string]bool{}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		line := sc.Text()
		k, _, ok := parsePropLine(line)
		switch {
		case ok && drop[k]:
			continue
		case ok && set[k] != "":
			if done[k] {
				continue // a duplicate would shadow the new value for wsk
			}
			line, done[k] = k+"="+set[k], true
		}
		out.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return err
	}
	var keys []string
	for k, v := range set {
		if !done[k] && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.WriteString(k + "=" + set[k] + "\n")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".wskprops-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// setting is a resolved client setting and where it came from.
type setting struct {
	value, source string
}

// clientSettings are the API host, key and namespace the client uses.
type clientSettings struct {
	apihost, auth, namespace setting
	propsPath                string
}

// settings resolves the client configuration: flag > GUST_* > WHISK_* (wsk's
// variables) > the wsk configuration file > default.
func (a *app) settings() (clientSettings, error) {
	path, err := propsPath()
	if err != nil {
		return clientSettings{}, err
	}
	props, err := readProps(path)
	if err != nil {
		return clientSettings{}, fmt.Errorf("read %s: %w", path, err)
	}
	pf := a.root.PersistentFlags()
	resolve := func(flag, value, propKey, def string) setting {
		if pf.Changed(flag) {
			return setting{value, "flag --" + flag}
		}
		for _, env := range []string{envName(flag), "WHISK_" + propKey} {
			if v := os.Getenv(env); v != "" {
				return setting{v, "env " + env}
			}
		}
		if v := props[propKey]; v != "" {
			return setting{v, path}
		}
		return setting{def, "default"}
	}
	return clientSettings{
		apihost:   resolve("apihost", a.g.apihost, "APIHOST", defaultAPIHost),
		auth:      resolve("auth", a.g.auth, "AUTH", ""),
		namespace: resolve("namespace", a.g.namespace, "NAMESPACE", client.DefaultNamespace),
		propsPath: path,
	}, nil
}

func (a *app) userAgent() string {
	return "Gust-CLI/" + version + " " + runtime.GOOS + " " + runtime.GOARCH
}

// client makes an API client from the settings. Commands that talk to
// authenticated endpoints require a key and say how to get one.
func (a *app) client(needKey bool) (*client.Client, error) {
	s, err := a.settings()
	if err != nil {
		return nil, err
	}
	return a.clientFor(s, needKey)
}

func (a *app) clientFor(s clientSettings, needKey bool) (*client.Client, error) {
	if needKey && s.auth.value == "" {
		return nil, &exitError{
			code: exitFailed,
			err:  errors.New("no API key is configured"),
			hint: "run `gust property set --auth UUID:KEY`; an operator makes a key with `gust admin namespace create NAME`",
		}
	}
	cfg := client.Config{
		APIHost:   s.apihost.value,
		AuthKey:   s.auth.value,
		Namespace: s.namespace.value,
		Insecure:  a.g.insecure,
		UserAgent: a.userAgent(),
	}
	if a.g.debug {
		cfg.Debug = a.stderr
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err, hint: "check `gust property get` (API host " + s.apihost.value + " from " + s.apihost.source + ")"}
	}
	return c, nil
}

func (a *app) newPropertyCmd() *cobra.Command {
	return group("property", "Work with the client's settings (~/.wskprops, shared with wsk)",
		a.newPropertySetCmd(), a.newPropertyUnsetCmd(), a.newPropertyGetCmd())
}

func (a *app) newPropertySetCmd() *cobra.Command {
	var apihost, auth, namespace string
	cmd := &cobra.Command{
		Use:   "set (--apihost HOST | --auth KEY | --namespace NAMESPACE)...",
		Short: "Save the API host, key or namespace in ~/.wskprops",
		Long: `Save client settings in the wsk configuration file (~/.wskprops, or the file
named by WSK_CONFIG_FILE), which wsk reads too. Other lines of the file are kept.
A namespace is checked against the namespaces the key may use.`,
		Example: `  gust property set --apihost localhost:3233 --auth 23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123z...`,
		Args:    argsBetween(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if apihost == "" && auth == "" && namespace == "" {
				return usageError(cmd, "give at least one of --apihost, --auth, --namespace")
			}
			s, err := a.settings()
			if err != nil {
				return err
			}
			set := map[string]string{}
			if apihost != "" {
				u, err := client.BaseURL(apihost)
				if err != nil {
					return usageError(cmd, "%v", err)
				}
				// wsk reads a host without a scheme as https; write the
				// http:// that gust infers for loopback hosts, so wsk agrees.
				if !strings.Contains(apihost, "://") && u.Scheme == "http" {
					apihost = "http://" + apihost
				}
				set["APIHOST"], s.apihost = apihost, setting{apihost, "flag"}
			}
			if auth != "" {
				if u, p, ok := strings.Cut(auth, ":"); !ok || u == "" || p == "" {
					return usageError(cmd, "an API key has the form UUID:SECRET")
				}
				set["AUTH"], s.auth = auth, setting{auth, "flag"}
			}
			if namespace != "" && namespace != client.DefaultNamespace {
				// The check uses the host and key being set, as wsk's does.
				c, err := a.clientFor(s, true)
				if err != nil {
					return err
				}
				names, err := c.ListNamespaces(cmd.Context())
				if err != nil {
					return failed(err, nil, "cannot check namespace %q", namespace)
				}
				found := false
				for _, n := range names {
					found = found || n == namespace
				}
				if !found {
					return &exitError{code: exitFailed, err: fmt.Errorf("the key may not use namespace %q", namespace),
						hint: "its namespaces are: " + strings.Join(names, ", ")}
				}
			}
			if namespace != "" {
				set["NAMESPACE"] = namespace
			}
			if err := writeProps(s.propsPath, set, nil); err != nil {
				return fmt.Errorf("cannot save the settings: %w", err)
			}
			if apihost != "" {
				a.ok("API host set to %s", a.bold(apihost))
			}
			if auth != "" {
				a.ok("API key set; `gust property get --auth` shows it")
			}
			if namespace != "" {
				a.ok("namespace set to %s", a.bold(namespace))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&apihost, "apihost", "", "API `HOST` (host[:port] or URL)")
	cmd.Flags().StringVarP(&auth, "auth", "u", "", "API `KEY` (uuid:secret)")
	cmd.Flags().StringVar(&namespace, "namespace", "", "default `NAMESPACE`")
	return cmd
}

func (a *app) newPropertyUnsetCmd() *cobra.Command {
	var apihost, auth, namespace bool
	cmd := &cobra.Command{
		Use:   "unset (--apihost | --auth | --namespace)...",
		Short: "Remove the API host, key or namespace from ~/.wskprops",
		Args:  argsBetween(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var unset []string
			if apihost {
				unset = append(unset, "APIHOST")
			}
			if auth {
				unset = append(unset, "AUTH")
			}
			if namespace {
				unset = append(unset, "NAMESPACE")
			}
			if len(unset) == 0 {
				return usageError(cmd, "give at least one of --apihost, --auth, --namespace")
			}
			path, err := propsPath()
			if err != nil {
				return err
			}
			if err := writeProps(path, nil, unset); err != nil {
				return fmt.Errorf("cannot save the settings: %w", err)
			}
			if apihost {
				a.ok("API host unset; the default %s will be used", a.bold(defaultAPIHost))
			}
			if auth {
				a.ok("API key unset")
			}
			if namespace {
				a.ok("namespace unset; the default %s (the key's own) will be used", a.bold(client.DefaultNamespace))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&apihost, "apihost", false, "the API host")
	cmd.Flags().BoolVar(&auth, "auth", false, "the API key")
	cmd.Flags().BoolVar(&namespace, "namespace", false, "the namespace")
	return cmd
}

func (a *app) newPropertyGetCmd() *cobra.Command {
	var apihost, auth, namespace, all, cliversion, apibuild, apibuildno bool
	cmd := &cobra.Command{
		Use:   "get [--apihost] [--auth] [--namespace] [--cliversion] [--apibuild] [--apibuildno] [--all]",
		Short: "Show the client's settings and where each comes from",
		Long: `Show the settings the client uses and where each comes from: a flag, an
environment variable (GUST_APIHOST, GUST_AUTH, GUST_NAMESPACE, or wsk's
WHISK_*), the wsk configuration file, or the default. Without flags, shows all
of them and asks the server for its build.`,
		Args: argsBetween(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !(apihost || auth || namespace || cliversion || apibuild || apibuildno) {
				all = true
			}
			s, err := a.settings()
			if err != nil {
				return err
			}
			type row struct{ label, key, value, source string }
			var rows []row
			if all || apihost {
				rows = append(rows, row{"API host", "apihost", s.apihost.value, s.apihost.source})
			}
			if all || auth {
				rows = append(rows, row{"API key", "auth", s.auth.value, s.auth.source})
			}
			if all || namespace {
				rows = append(rows, row{"namespace", "namespace", s.namespace.value, s.namespace.source})
			}
			if all || cliversion {
				rows = append(rows, row{"CLI version", "cliversion", versionString(), ""})
			}
			var buildErr error
			if all || apibuild || apibuildno {
				build, buildNo, from := "unknown", "unknown", "from "+s.apihost.value
				c, err := a.clientFor(s, false)
				if err == nil {
					info, ierr := c.Info(cmd.Context())
					if ierr == nil {
						build, buildNo = info.Build, info.BuildNo
					}
					err = ierr
				}
				if err != nil {
					from = "no answer from " + s.apihost.value
					if apibuild || apibuildno {
						buildErr = failed(err, nil, "cannot get the API build from %s", s.apihost.value)
					}
				}
				if all || apibuild {
					rows = append(rows, row{"API build", "apibuild", build, from})
				}
				if all || apibuildno {
					rows = append(rows, row{"API build number", "apibuildno", buildNo, from})
				}
			}
			values := map[string]string{}
			for _, r := range rows {
				values[r.key] = r.value
			}
			if err := a.emitValue(values, func(w io.Writer) error {
				t := newTable(w)
				for _, r := range rows {
					value, src := r.value, ""
					if value == "" {
						value = "(not set)"
					}
					if r.source != "" {
						src = "(" + r.source + ")"
					}
					t.row(r.label, value, src)
				}
				return t.flush()
			}); err != nil {
				return err
			}
			return buildErr
		},
	}
	f := cmd.Flags()
	f.BoolVar(&apihost, "apihost", false, "the API host")
	f.BoolVar(&auth, "auth", false, "the API key")
	f.BoolVar(&namespace, "namespace", false, "the namespace")
	f.BoolVar(&cliversion, "cliversion", false, "the CLI's version")
	f.BoolVar(&apibuild, "apibuild", false, "the server's build (asks the server)")
	f.BoolVar(&apibuildno, "apibuildno", false, "the server's build number (asks the server)")
	f.BoolVar(&all, "all", false, "all of the above (the default)")
	return cmd
}
