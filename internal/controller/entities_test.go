package controller

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/store/sqlite"
)

// gatedStore counts entity reads and holds each until the gate opens.
type gatedStore struct {
	store.Store
	reads atomic.Int32
	gate  chan struct{}
}

func (g *gatedStore) GetEntity(ctx context.Context, path, name string) (store.Doc, error) {
	g.reads.Add(1)
	<-g.gate
	return g.Store.GetEntity(ctx, path, name)
}

// TestEntityLoadShared checks that requests missing the cache together share
// one store read, and that one arriving after an invalidation does not join
// a read that may predate the write.
func TestEntityLoadShared(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gust.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.PutEntity(ctx, store.Doc{Collection: store.Packages, Namespace: "guest", Path: "guest", Name: "p",
		Body: []byte(`{"name":"p","namespace":"guest"}`)}, 0); err != nil {
		t.Fatal(err)
	}
	gs := &gatedStore{Store: st, gate: make(chan struct{})}
	reg, err := runtimes.NewRegistry(runtimes.Config{CacheDir: filepath.Join(os.TempDir(), "gust-runtimes-test")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(DefaultConfig(), Deps{Store: gs, Invoker: answeringInvoker{}, Acceptor: refusingAcceptor{}, Kinds: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}

	const n = 50
	var wg sync.WaitGroup
	got := make([]*cachedEntity, n)
	for i := range n {
		wg.Go(func() {
			e, err := c.loadEntity(ctx, "guest", "p")
			if err != nil {
				t.Error(err)
			}
			got[i] = e
		})
	}
	waitFor(t, func() bool { return gs.reads.Load() == 1 && c.entities.waiting("guest/p") == n-1 })
	c.entities.invalidate("guest/p")
	late := make(chan *cachedEntity)
	go func() {
		e, _ := c.loadEntity(ctx, "guest", "p")
		late <- e
	}()
	waitFor(t, func() bool { return gs.reads.Load() == 2 })
	close(gs.gate)
	wg.Wait()
	if e := <-late; e == nil || e == got[0] {
		t.Error("a request after the invalidation got the earlier read's result")
	}
	for i, e := range got {
		if e == nil || e != got[0] {
			t.Fatalf("request %d got its own entity; want the shared read's", i)
		}
	}
	if r := gs.reads.Load(); r != 2 {
		t.Errorf("%d store reads, want 2: one shared, one after the invalidation", r)
	}
}

// waiting is how many requests wait on the read of key in progress.
func (ec *entityCache) waiting(key string) int {
	ec.loadMu.Lock()
	defer ec.loadMu.Unlock()
	if l := ec.loads[key]; l != nil {
		return l.joined
	}
	return 0
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
