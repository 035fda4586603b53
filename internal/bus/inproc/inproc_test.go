package inproc_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/bus"
	"github.com/gustfaas/gust/internal/bus/bustest"
	"github.com/gustfaas/gust/internal/bus/inproc"
	"github.com/gustfaas/gust/internal/store/sqlite"
)

func TestConformance(t *testing.T) {
	cfg := inproc.Config{Owner: "test", Lease: 500 * time.Millisecond, Renew: 100 * time.Millisecond, Poll: 20 * time.Millisecond}
	bustest.Run(t, bustest.Options{Lease: cfg.Lease}, func(t *testing.T) (bus.Bus, func() bus.Bus) {
		path := filepath.Join(t.TempDir(), "q.db")
		open := func() bus.Bus {
			st, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return inproc.New(cfg, st, nil)
		}
		return open(), open
	})
}
