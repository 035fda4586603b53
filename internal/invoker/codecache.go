package invoker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/whisk"
)

// codeCache readies each distinct piece of code once (unzip, compile) and keeps
// the result on disk under its hash, so that restarts and identical actions in
// other namespaces reuse it.
type codeCache struct {
	root string

	mu       sync.Mutex
	inflight map[string]*prepareCall
	// hashes remembers the code hash of each action revision seen, so that
	// a megabyte executable is hashed once rather than at every cold start.
	// Revisions are store-wide: one names one version of one action.
	hashes map[int64]string
}

// maxCodeHashes bounds hashes; it starts over when full.
const maxCodeHashes = 4096

type prepareCall struct {
	done chan struct{}
	dir  string
	err  error
}

func newCodeCache(root string) (*codeCache, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	return &codeCache{root: root, inflight: make(map[string]*prepareCall), hashes: make(map[int64]string)}, nil
}

func codeHash(kind string, exec *whisk.Exec) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", kind, exec.Main, exec.Image)
	// In pieces: the code is megabytes for a native action, and copying it
	// whole into a new []byte cost twice what hashing it does.
	var chunk [32 << 10]byte
	for code := exec.CodeString(); code != ""; {
		n := copy(chunk[:], code)
		h.Write(chunk[:n])
		code = code[n:]
	}
	return hex.EncodeToString(h.Sum(nil))[:40]
}

// hash returns the code hash of exec, the code of the action at revision
// rev (0: not known, always hashed).
func (c *codeCache) hash(kind string, exec *whisk.Exec, rev int64) string {
	if rev == 0 {
		return codeHash(kind, exec)
	}
	c.mu.Lock()
	key, ok := c.hashes[rev]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = codeHash(kind, exec)
	c.mu.Lock()
	if len(c.hashes) >= maxCodeHashes {
		c.hashes = make(map[int64]string)
	}
	c.hashes[rev] = key
	c.mu.Unlock()
	return key
}

// prepare returns the directory holding rt's preparation of exec, the code
// of the action at revision rev (0 if not known).
func (c *codeCache) prepare(ctx context.Context, rt runtimes.Runtime, exec *whisk.Exec, rev int64) (string, error) {
	key := c.hash(rt.Kind(), exec, rev)
	dir := filepath.Join(c.root, key)
	c.mu.Lock()
	if call, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		select {
		case <-call.done:
			return call.dir, call.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".ready")); err == nil {
		c.mu.Unlock()
		return dir, nil
	}
	call := &prepareCall{done: make(chan struct{})}
	c.inflight[key] = call
	c.mu.Unlock()

	call.dir, call.err = c.build(ctx, rt, exec, dir)
	c.mu.Lock()
	delete(c.inflight, key)
	c.mu.Unlock()
	close(call.done)
	return call.dir, call.err
}

func (c *codeCache) build(ctx context.Context, rt runtimes.Runtime, exec *whisk.Exec, dir string) (string, error) {
	// Build beside the final place and rename, so that a crash mid-build never
	// leaves a half-prepared directory that looks ready.
	tmp, err := os.MkdirTemp(c.root, "build-")
	if err != nil {
		return "", err
	}
	if err := rt.Prepare(ctx, exec, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".ready"), nil, 0o600); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	return dir, nil
}
