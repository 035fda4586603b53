package runtimes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gustfaas/gust/internal/whisk"
)

// Config says where runtimes keep their files and, optionally, which
// interpreters to use.
type Config struct {
	// CacheDir holds the launchers and the Go build cache. It survives
	// restarts so that Go compiles stay fast.
	CacheDir string
	// Node, Python and Go are the interpreters' paths; "" finds them
	// (/usr/bin, /usr/local/bin, then PATH without version-manager shims).
	Node, Python, Go string
	// Disabled lists families not to offer ("go", "python", ...).
	Disabled []string
}

// DefaultConfig keeps the cache under the system's temporary directory.
func DefaultConfig() Config {
	return Config{CacheDir: filepath.Join(os.TempDir(), "gust-runtimes")}
}

// Registry knows the kinds this machine can run: those whose interpreter is
// installed, plus blackbox (native executables).
type Registry struct {
	byKind   map[string]Runtime
	defaults map[string]string // family → default kind
	kinds    []string          // sorted
}

// NewRegistry finds the interpreters and writes the launchers. A missing
// interpreter only removes its kinds; an error means the cache directory is
// unusable.
func NewRegistry(cfg Config) (*Registry, error) {
	if cfg.CacheDir == "" {
		cfg.CacheDir = DefaultConfig().CacheDir
	}
	launchers := filepath.Join(cfg.CacheDir, "launchers")
	if err := os.MkdirAll(launchers, 0o755); err != nil {
		return nil, fmt.Errorf("runtimes: %w", err)
	}
	var (
		wg                sync.WaitGroup
		node, python      *stemCell
		golang            *golang
		nodeErr, pyErr    error
		goErr             error
		enabled           = func(f string) bool { return !slices.Contains(cfg.Disabled, f) }
		nodeOn, pyOn, gOn = enabled("nodejs"), enabled("python"), enabled("go")
	)
	// The version probes start interpreters: run them side by side.
	wg.Add(3)
	go func() {
		defer wg.Done()
		if nodeOn {
			node, nodeErr = newNode(cfg.Node, launchers)
		}
	}()
	go func() {
		defer wg.Done()
		if pyOn {
			python, pyErr = newPython(cfg.Python, launchers)
		}
	}()
	go func() {
		defer wg.Done()
		if gOn {
			golang, goErr = newGo(cfg.Go, cfg.CacheDir)
		}
	}()
	wg.Wait()
	for _, err := range []error{nodeErr, pyErr, goErr} {
		if err != nil {
			return nil, fmt.Errorf("runtimes: %w", err)
		}
	}
	var rts []Runtime
	if node != nil {
		rts = append(rts, node)
	}
	if python != nil {
		rts = append(rts, python)
	}
	if golang != nil {
		rts = append(rts, golang)
	}
	if enabled(whisk.KindBlackbox) {
		rts = append(rts, newNative())
	}
	return newRegistry(rts...), nil
}

// newRegistry indexes runtimes; the first of each family is its default.
func newRegistry(rts ...Runtime) *Registry {
	r := &Registry{byKind: map[string]Runtime{}, defaults: map[string]string{}}
	for _, rt := range rts {
		r.byKind[rt.Kind()] = rt
		r.kinds = append(r.kinds, rt.Kind())
		if _, ok := r.defaults[rt.Family()]; !ok {
			r.defaults[rt.Family()] = rt.Kind()
		}
	}
	slices.Sort(r.kinds)
	return r
}

// Lookup finds the runtime of a kind, trimmed and lower-cased;
// "<family>:default" is the family's default kind.
func (r *Registry) Lookup(kind string) (Runtime, bool) {
	k := strings.ToLower(strings.TrimSpace(kind))
	if family, ok := strings.CutSuffix(k, ":default"); ok {
		k = r.defaults[family]
	}
	rt, ok := r.byKind[k]
	return rt, ok
}

// Kinds lists the runnable kinds, sorted.
func (r *Registry) Kinds() []string { return slices.Clone(r.kinds) }

// Infos groups the language runtimes by family for GET /, as OpenWhisk's
// manifest does. Blackbox is not a language runtime and is not listed.
func (r *Registry) Infos() map[string][]Info {
	out := map[string][]Info{}
	for _, k := range r.kinds {
		rt := r.byKind[k]
		if rt.Kind() == whisk.KindBlackbox {
			continue
		}
		out[rt.Family()] = append(out[rt.Family()], Info{
			Kind:    rt.Kind(),
			Image:   rt.Image(),
			Default: r.defaults[rt.Family()] == rt.Kind(),
		})
	}
	return out
}

// UnsupportedKindError is OpenWhisk's 400 for an unknown kind.
func (r *Registry) UnsupportedKindError(kind string) *whisk.Error {
	return whisk.BadRequest("The specified runtime '%s' is not supported by this platform. Valid values are: %s.",
		kind, strings.Join(r.kinds, ", "))
}

// ValidateExec checks at create time what would otherwise fail at the first
// invocation: an unknown kind, or a blackbox action Gust cannot run.
// Sequences are the controller's and pass.
func (r *Registry) ValidateExec(e *whisk.Exec) error {
	if e == nil {
		return whisk.BadRequest("The request content was malformed:\nexec undefined")
	}
	kind := strings.ToLower(strings.TrimSpace(e.Kind))
	if kind == whisk.KindSequence {
		return nil
	}
	rt, ok := r.Lookup(kind)
	if !ok {
		return r.UnsupportedKindError(e.Kind)
	}
	if rt.Kind() == whisk.KindBlackbox {
		return validateNative(e)
	}
	return nil
}

// WarmUp readies what runtimes cache, so that the first action of a kind is
// not the one that pays: a Go compile on an empty build cache builds the
// standard library first, tens of seconds on two cores against half a second
// after. Run it in the background at start-up; it is safe to cancel.
func (r *Registry) WarmUp(ctx context.Context) error {
	for _, k := range r.kinds {
		if w, ok := r.byKind[k].(interface{ warmUp(context.Context) error }); ok {
			if err := w.warmUp(ctx); err != nil {
				return fmt.Errorf("runtimes: warm up %s: %w", k, err)
			}
		}
	}
	return nil
}
