package runtimes

import (
	"context"
	_ "embed"
	"encoding/json"
	"path/filepath"
	"slices"

	"github.com/gustfaas/gust/internal/whisk"
)

//go:embed launchers/launcher.js
var nodeLauncher []byte

//go:embed launchers/launcher.py
var pythonLauncher []byte

// stemCell is a runtime whose process starts without code and gets it in the
// init line: nodejs and python. Its launcher does the loading (eval, zip),
// so Prepare has nothing to do.
type stemCell struct {
	kind, family, image string
	argv                []string // interpreter, flags, launcher
	readOnly            []string
	concurrent          bool
}

func (s *stemCell) Kind() string              { return s.kind }
func (s *stemCell) Family() string            { return s.family }
func (s *stemCell) Image() string             { return s.image }
func (s *stemCell) StemCell() bool            { return true }
func (s *stemCell) SupportsConcurrency() bool { return s.concurrent }

func (s *stemCell) Prepare(ctx context.Context, e *whisk.Exec, dir string) error { return nil }

// Command ignores prepared: the code comes in the init line. Only the
// platform-wide part of initEnv is set at start; the rest comes with the code.
//
// A stem cell does not ack by default, because a pool that does not consume
// the ack would take it for the init line's reply. A caller that wants to
// know when the interpreter has booted adds __OW_WAIT_FOR_ACK=true to Env
// and waits with Call(nil) before anything else.
func (s *stemCell) Command(prepared string, initEnv map[string]string) Command {
	env := make(map[string]string, len(stemEnvKeys))
	for _, k := range stemEnvKeys {
		if v, ok := initEnv[k]; ok {
			env[k] = v
		}
	}
	return Command{
		Argv:          slices.Clone(s.argv),
		Env:           buildEnv(baseEnv, env),
		ReadOnlyPaths: slices.Clone(s.readOnly),
	}
}

// InitLine is OpenWhisk's /init body.
func (s *stemCell) InitLine(e *whisk.Exec, name string, initEnv map[string]string) []byte {
	return initLine(e, name, initEnv)
}

func initLine(e *whisk.Exec, name string, initEnv map[string]string) []byte {
	type value struct {
		Name   string            `json:"name"`
		Main   string            `json:"main"`
		Code   string            `json:"code"`
		Binary bool              `json:"binary"`
		Env    map[string]string `json:"env"`
	}
	v := value{Name: name, Main: "main", Env: initEnv}
	if e != nil {
		v.Code, v.Binary = e.CodeString(), e.Binary
		if e.Main != "" {
			v.Main = e.Main
		}
	}
	if v.Env == nil {
		v.Env = map[string]string{}
	}
	b, _ := json.Marshal(struct {
		Value value `json:"value"`
	}{v})
	return b
}

// newNode finds Node.js and names the kind after its major version.
func newNode(path, launcherDir string) (*stemCell, error) {
	path = firstNonEmpty(path, findProgram("node", "/usr/bin/node", "/usr/local/bin/node"))
	if path == "" {
		return nil, nil
	}
	out, err := programOutput(path, "--version")
	major := majorMinor(out, 1)
	if err != nil || major == "" {
		return nil, nil
	}
	launcher, err := writeLauncher(launcherDir, "launcher.js", nodeLauncher)
	if err != nil {
		return nil, err
	}
	real := realPath(path)
	return &stemCell{
		kind: "nodejs:" + major, family: "nodejs", image: "openwhisk/action-nodejs-v" + major,
		argv:       []string{real, launcher},
		readOnly:   readOnlyPaths(real, launcher),
		concurrent: true,
	}, nil
}

// newPython finds Python 3 and names the kind after its minor version. It
// runs isolated (-I: no PYTHON* variables, no user site, no script directory
// on sys.path) and writes no bytecode (-B) into the action's directory. The
// site module stays: it costs ~10 ms at start, hidden by the stem cell, and
// makes the host's site-packages importable.
func newPython(path, launcherDir string) (*stemCell, error) {
	path = firstNonEmpty(path, findProgram("python3", "/usr/bin/python3", "/usr/local/bin/python3"))
	if path == "" {
		return nil, nil
	}
	out, err := programOutput(path, "--version")
	version := majorMinor(out, 2)
	if err != nil || version == "" || version[0] != '3' {
		return nil, nil
	}
	launcher, err := writeLauncher(launcherDir, "launcher.py", pythonLauncher)
	if err != nil {
		return nil, err
	}
	real := realPath(path)
	extra := []string{real, launcher}
	for _, prefix := range []string{"/usr/local/lib/python", "/usr/lib/python"} {
		extra = append(extra, prefix+version)
	}
	extra = append(extra, "/usr/lib/python3/dist-packages")
	return &stemCell{
		kind: "python:" + version, family: "python", image: "openwhisk/action-python-v" + version,
		argv:     []string{real, "-I", "-B", launcher},
		readOnly: readOnlyPaths(extra...),
	}, nil
}

func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		if abs, err := filepath.Abs(r); err == nil {
			return abs
		}
	}
	return p
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
