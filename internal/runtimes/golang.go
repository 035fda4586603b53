package runtimes

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/gustfaas/gust/internal/whisk"
)

//go:embed launchers/launcher.go.txt
var goLauncher string

// Files of a prepared Go action.
const (
	goExec        = "exec"          // the binary
	goSrc         = "src"           // the sources or the archive's files; the working directory
	goNoSentinels = ".no-sentinels" // marker: the binary runs its own loop, without sentinels
	goLauncherSrc = "gust_launcher__.go"
)

// golang compiles Go actions at create time, with the action loop of
// launchers/launcher.go.txt around the entry point, as OpenWhisk's Go runtime
// does. A binary that runs its own loop — the archive's prebuilt exec, or
// sources that define func main — is used as is; like OpenWhisk's Go images
// (OW_WAIT_FOR_ACK) it must acknowledge its start, and it is not expected to
// print sentinels.
type golang struct {
	kind, image string
	version     string // "1.26", for go.mod files Gust writes
	goBin       string
	cacheDir    string // GOCACHE, shared by every compile
	readOnly    []string
}

func newGo(path, cacheDir string) (*golang, error) {
	if path == "" {
		var preferred []string
		preferred = append(preferred, "/usr/local/go/bin/go")
		if root := runtime.GOROOT(); root != "" {
			preferred = append(preferred, filepath.Join(root, "bin", "go"))
		}
		path = findProgram("go", preferred...)
	}
	if path == "" {
		return nil, nil
	}
	real := realPath(path)
	version := ""
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(real)), "VERSION")); err == nil {
		version = majorMinor(strings.SplitN(string(b), "\n", 2)[0], 2)
	}
	if version == "" {
		out, err := programOutput(real, "env", "GOVERSION")
		if err != nil {
			return nil, nil
		}
		version = majorMinor(out, 2)
	}
	if version == "" {
		return nil, nil
	}
	gocache := filepath.Join(cacheDir, "go-build")
	if err := os.MkdirAll(gocache, 0o755); err != nil {
		return nil, err
	}
	return &golang{
		kind: "go:" + version, image: "openwhisk/action-golang-v" + version, version: version,
		goBin: real, cacheDir: gocache,
		// The binary is static (CGO_ENABLED=0): it needs no libraries.
		readOnly: readOnlyPaths(),
	}, nil
}

func (g *golang) Kind() string              { return g.kind }
func (g *golang) Family() string            { return "go" }
func (g *golang) Image() string             { return g.image }
func (g *golang) StemCell() bool            { return false }
func (g *golang) SupportsConcurrency() bool { return true }

func (g *golang) InitLine(*whisk.Exec, string, map[string]string) []byte { return nil }

// Command starts the compiled action. It always waits for the ack, and tells
// the process so (__OW_WAIT_FOR_ACK), as OpenWhisk's Go images do.
func (g *golang) Command(prepared string, initEnv map[string]string) Command {
	if prepared == "" {
		return Command{} // not a stem cell: there is nothing to start without code
	}
	env := make(map[string]string, len(initEnv)+1)
	for k, v := range initEnv {
		env[k] = v
	}
	env["__OW_WAIT_FOR_ACK"] = "true"
	dir := filepath.Join(prepared, goSrc)
	if !exists(dir) {
		dir = prepared
	}
	return Command{
		Argv:          []string{filepath.Join(prepared, goExec)},
		Env:           buildEnv(baseEnv, env),
		Dir:           dir,
		ReadOnlyPaths: append(slices.Clone(g.readOnly), prepared),
		WaitAck:       true,
		NoSentinels:   exists(filepath.Join(prepared, goNoSentinels)),
	}
}

// Prepare compiles the action into dir/exec. The code is one source file, a
// base64 zip of sources (with an optional go.mod and vendor directory — the
// compiler has no network), a zip holding a prebuilt exec, or a base64 ELF.
func (g *golang) Prepare(ctx context.Context, e *whisk.Exec, dir string) error {
	code := e.CodeString()
	if strings.TrimSpace(code) == "" {
		return whisk.BadRequest("Missing main/no code to execute.")
	}
	src := filepath.Join(dir, goSrc)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if !e.Binary {
		if err := os.WriteFile(filepath.Join(src, "action.go"), []byte(code), 0o644); err != nil {
			return err
		}
		return g.compile(ctx, dir, e.Main)
	}
	data, err := decodeBinary(code)
	if err != nil {
		return err
	}
	switch {
	case isZip(data):
		if err := unzip(data, src); err != nil {
			return err
		}
	case isELF(data):
		return prebuilt(dir, data)
	default:
		return whisk.BadRequest("The action's code is neither a zip archive nor an executable.")
	}
	// OpenWhisk's convention: an exec in the archive is the action itself —
	// a binary, a script, or Go source with its own loop.
	if b, err := os.ReadFile(filepath.Join(src, "exec")); err == nil {
		if isELF(b) || isScript(b) {
			if err := os.Remove(filepath.Join(src, "exec")); err != nil {
				return err
			}
			return prebuilt(dir, b)
		}
		if err := os.Rename(filepath.Join(src, "exec"), filepath.Join(src, "exec__.go")); err != nil {
			return err
		}
	}
	return g.compile(ctx, dir, e.Main)
}

func prebuilt(dir string, b []byte) error {
	if err := writeExec(filepath.Join(dir, goExec), b); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, goNoSentinels), nil, 0o644)
}

func (g *golang) compile(ctx context.Context, dir, mainName string) error {
	src := filepath.Join(dir, goSrc)
	ownLoop, entry, err := goEntry(src, mainName)
	if err != nil {
		return err
	}
	if ownLoop {
		if err := os.WriteFile(filepath.Join(dir, goNoSentinels), nil, 0o644); err != nil {
			return err
		}
	} else {
		launcher := strings.Replace(goLauncher, "GUST_ENTRY", entry, 1)
		if err := os.WriteFile(filepath.Join(src, goLauncherSrc), []byte(launcher), 0o644); err != nil {
			return err
		}
	}
	if !exists(filepath.Join(src, "go.mod")) {
		mod := fmt.Sprintf("module action\n\ngo %s\n", g.version)
		if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(mod), 0o644); err != nil {
			return err
		}
	}
	return g.build(ctx, dir)
}

// goEntry reads the package's top-level functions. An action that defines
// func main runs its own loop. Otherwise the entry point is the main name
// capitalized: "main" → Main, "hello" → Hello; OpenWhisk's Python-style
// capitalize ("myFunc" → Myfunc) is accepted too. When the sources do not
// parse, the compiler is left to report it.
func goEntry(src, mainName string) (ownLoop bool, entry string, err error) {
	if mainName == "" {
		mainName = "main"
	}
	r := []rune(mainName)
	first := string(unicode.ToUpper(r[0]))
	candidates := []string{first + string(r[1:]), first + strings.ToLower(string(r[1:]))}
	files, _ := filepath.Glob(filepath.Join(src, "*.go"))
	funcs := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, perr := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if perr != nil {
			return false, candidates[0], nil
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil {
				funcs[fd.Name.Name] = true
			}
		}
	}
	if funcs["main"] {
		return true, "", nil
	}
	for _, c := range candidates {
		if funcs[c] {
			return false, c, nil
		}
	}
	return false, "", whisk.BadRequest("The action has no entry point: package main must define func %s(map[string]interface{}) map[string]interface{}.", candidates[0])
}

// build runs the Go toolchain offline, with a private GOPATH and the shared
// build cache, and turns a compile failure into the user's error.
func (g *golang) build(ctx context.Context, dir string) error {
	src := filepath.Join(dir, goSrc)
	private, err := os.MkdirTemp(dir, ".gopath-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(private)
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, goExec)}
	if exists(filepath.Join(src, "vendor")) {
		args = append(args, "-mod=vendor")
	}
	args = append(args, ".")
	cmd := exec.CommandContext(ctx, g.goBin, args...)
	cmd.Dir = src
	cmd.Env = []string{
		"PATH=" + filepath.Dir(g.goBin) + ":/usr/local/bin:/usr/bin:/bin",
		"HOME=" + private,
		"GOCACHE=" + g.cacheDir,
		"GOPATH=" + filepath.Join(private, "gopath"),
		"GOMODCACHE=" + filepath.Join(private, "gopath", "pkg", "mod"),
		"GOTMPDIR=" + private,
		"GOTOOLCHAIN=local",
		"GOPROXY=off",
		"GOSUMDB=off",
		"GOWORK=off",
		"GOENV=off",
		"GOFLAGS=",
		"GO111MODULE=on",
		"CGO_ENABLED=0",
	}
	// The toolchain forks compilers and linkers: kill them all on cancel.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err = cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return fmt.Errorf("go build: %w", err)
	}
	return &whisk.Error{Code: whisk.CodeBadRequest, Message: compilerMessage(out.Bytes())}
}

// compilerMessage keeps what the user needs from the compiler's output: the
// diagnostics, without the package headers, bounded in size.
func compilerMessage(out []byte) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(line, "# ") {
			continue
		}
		if b.Len()+len(line) > 16<<10 {
			b.WriteString("…\n")
			break
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	msg := strings.TrimSpace(b.String())
	if msg == "" {
		msg = "The action did not compile."
	}
	return msg
}

// warmUp compiles a trivial action: the standard library packages every
// action links (the launcher's encoding/json, reflect, os) land in the cache.
func (g *golang) warmUp(ctx context.Context) error {
	removeStaleWarmUps(filepath.Dir(g.cacheDir), time.Now().Add(-staleWarmUp))
	dir, err := os.MkdirTemp(filepath.Dir(g.cacheDir), "warmup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	code := "package main\n\nfunc Main(args map[string]interface{}) map[string]interface{} { return args }\n"
	return g.Prepare(ctx, &whisk.Exec{Kind: g.kind, Code: &code}, dir)
}

// staleWarmUp is how old a warm-up directory must be to be someone's
// leftover: a warm-up takes seconds, and a process killed during one leaves
// its directory behind.
const staleWarmUp = 10 * time.Minute

// removeStaleWarmUps removes the warm-up directories in parent last changed
// before cutoff.
func removeStaleWarmUps(parent string, cutoff time.Time) {
	dirs, _ := filepath.Glob(filepath.Join(parent, "warmup-*"))
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() && fi.ModTime().Before(cutoff) {
			os.RemoveAll(d)
		}
	}
}
