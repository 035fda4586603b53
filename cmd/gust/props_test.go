package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadProps(t *testing.T) {
	path := writeFile(t, "wskprops", "# wsk settings\nAPIHOST=localhost:3233\n AUTH = uuid:secret # mine\nNAMESPACE=\nnonsense\nAPIGW_ACCESS_TOKEN=tok\n")
	props, err := readProps(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"APIHOST": "localhost:3233", "AUTH": "uuid:secret", "NAMESPACE": "", "APIGW_ACCESS_TOKEN": "tok"}
	if len(props) != len(want) {
		t.Fatalf("props = %v", props)
	}
	for k, v := range want {
		if props[k] != v {
			t.Fatalf("props[%s] = %q, want %q", k, props[k], v)
		}
	}
	missing, err := readProps(filepath.Join(t.TempDir(), "none"))
	if err != nil || len(missing) != 0 {
		t.Fatalf("missing file: %v %v", missing, err)
	}
}

func TestWriteProps(t *testing.T) {
	path := writeFile(t, "wskprops", "# keep me\nAPIHOST=old:1\nAPIGW_ACCESS_TOKEN=tok\nAUTH=a:b\nAPIHOST=dup:2\n")
	if err := writeProps(path, map[string]string{"APIHOST": "localhost:3233", "NAMESPACE": "guest"}, []string{"AUTH"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# keep me\nAPIHOST=localhost:3233\nAPIGW_ACCESS_TOKEN=tok\nNAMESPACE=guest\n"
	if string(got) != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v: the file holds a key", fi.Mode())
	}
	fresh := filepath.Join(t.TempDir(), "sub", "wskprops")
	if err := writeProps(fresh, map[string]string{"AUTH": "x:y"}, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(fresh); string(got) != "AUTH=x:y\n" {
		t.Fatalf("new file: %q", got)
	}
	if err := writeProps("", map[string]string{"AUTH": "x:y"}, nil); err == nil {
		t.Fatal("wrote to an empty path")
	}
}

func clearClientEnv(t *testing.T) {
	for _, k := range []string{"GUST_APIHOST", "GUST_AUTH", "GUST_NAMESPACE", "WHISK_APIHOST", "WHISK_AUTH", "WHISK_NAMESPACE"} {
		t.Setenv(k, "")
	}
}

func TestClientSettingsPrecedence(t *testing.T) {
	clearClientEnv(t)
	path := writeFile(t, "wskprops", "APIHOST=props:1\nAUTH=props:key\n")
	t.Setenv("WSK_CONFIG_FILE", path)

	settings := func(args ...string) clientSettings {
		t.Helper()
		a := newApp(&bytes.Buffer{}, &bytes.Buffer{})
		if err := a.root.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		s, err := a.settings()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	s := settings()
	if s.apihost != (setting{"props:1", path}) || s.auth != (setting{"props:key", path}) || s.namespace != (setting{"_", "default"}) {
		t.Fatalf("from file: %+v", s)
	}
	t.Setenv("WHISK_APIHOST", "whisk:2")
	t.Setenv("WHISK_NAMESPACE", "wns")
	if s = settings(); s.apihost != (setting{"whisk:2", "env WHISK_APIHOST"}) || s.namespace.value != "wns" {
		t.Fatalf("wsk env over file: %+v", s)
	}
	t.Setenv("GUST_APIHOST", "gust:3")
	if s = settings(); s.apihost != (setting{"gust:3", "env GUST_APIHOST"}) {
		t.Fatalf("GUST_ over WHISK_: %+v", s)
	}
	if s = settings("--apihost", "flag:4", "-u", "f:k"); s.apihost != (setting{"flag:4", "flag --apihost"}) || s.auth.value != "f:k" {
		t.Fatalf("flag over env: %+v", s)
	}
	t.Setenv("WSK_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	clearClientEnv(t)
	if s = settings(); s.apihost != (setting{defaultAPIHost, "default"}) || s.auth.value != "" {
		t.Fatalf("defaults: %+v", s)
	}
}

func TestPropertySetGetUnset(t *testing.T) {
	clearClientEnv(t)
	path := filepath.Join(t.TempDir(), "wskprops")
	t.Setenv("WSK_CONFIG_FILE", path)
	out, errOut, code := runCLI(t, "property", "set", "--apihost", "localhost:3233", "--auth", "uuid:secret")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != "ok: API host set to http://localhost:3233\nok: API key set; `gust property get --auth` shows it\n" {
		t.Fatalf("stdout %q", out)
	}
	if got, _ := os.ReadFile(path); string(got) != "APIHOST=http://localhost:3233\nAUTH=uuid:secret\n" {
		t.Fatalf("file %q", got)
	}
	out, _, code = runCLI(t, "property", "get", "--auth", "--apihost")
	if code != 0 || !strings.Contains(out, "API host  http://localhost:3233  ("+path+")") || !strings.Contains(out, "API key   uuid:secret") {
		t.Fatalf("get: %d %q", code, out)
	}
	if _, errOut, code = runCLI(t, "property", "set", "--auth", "nocolon"); code != exitUsage ||
		!strings.Contains(errOut, "error: an API key has the form UUID:SECRET") {
		t.Fatalf("bad key: %d %q", code, errOut)
	}
	if _, _, code = runCLI(t, "property", "unset", "--auth"); code != 0 {
		t.Fatalf("unset: %d", code)
	}
	if got, _ := os.ReadFile(path); string(got) != "APIHOST=http://localhost:3233\n" {
		t.Fatalf("after unset %q", got)
	}
	if _, errOut, code = runCLI(t, "property", "set"); code != exitUsage || !strings.Contains(errOut, "give at least one of") {
		t.Fatalf("nothing to set: %d %q", code, errOut)
	}
}

// runCLI runs a command line in-process and returns stdout, stderr and the
// exit status.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return out.String(), errOut.String(), code
}
