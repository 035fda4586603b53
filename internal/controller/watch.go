package controller

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/gustfaas/gust/internal/whisk"
)

// WatchQuery selects the activations a watcher receives.
type WatchQuery struct {
	Name  string // "action" or "pkg/action", as in ActivationQuery; empty = all
	Since int64  // epoch ms: replay the records started since then first; 0 = none
	// After is an activation id the watcher saw last (an EventSource's
	// Last-Event-ID): the replay starts at its start time and leaves it out.
	After string
}

// maxReplay bounds the records a watch replays: one page of the list API.
const maxReplay = 200

// Watch is a subscription to a namespace's new activation records.
type Watch struct {
	// Replay holds the stored records selected by Since or After, oldest
	// first. Live does not repeat them.
	Replay []*whisk.Activation
	// Live receives each matching record once it is stored; it is closed by
	// Close and when the feed ends (the server is shutting down).
	Live <-chan *whisk.Activation

	once sync.Once
	stop chan struct{}
	end  func()
}

// Close ends the watch. It may be called more than once.
func (w *Watch) Close() {
	w.once.Do(func() {
		close(w.stop)
		w.end()
	})
}

// WatchActivations subscribes to the activation records of namespace ns as
// they are stored. The subscription starts before the replay is read, so
// that no record falls between the two. Without a feed (a controller wired
// without one) it answers 404, like a route the server does not have.
func (c *Controller) WatchActivations(ctx context.Context, id whisk.Identity, ns string, q WatchQuery) (*Watch, error) {
	if err := entitled(id, ns, ns); err != nil {
		return nil, err
	}
	if c.feed == nil {
		return nil, whisk.NotFound()
	}
	src, cancel := c.feed.Subscribe(ns)
	w := &Watch{stop: make(chan struct{}), end: cancel}
	since := q.Since
	if q.After != "" && whisk.ValidActivationID(q.After) {
		if last, err := c.GetActivation(ctx, id, ns, q.After); err == nil && (since == 0 || last.Start < since) {
			since = last.Start
		}
	}
	seen := map[string]bool{}
	if q.After != "" {
		seen[q.After] = true
	}
	if since > 0 {
		acts, err := c.store.ListActivations(ctx, ActivationQuery{Name: q.Name, Since: since, Page: Page{Limit: maxReplay}}.store(ns))
		if err != nil {
			cancel()
			return nil, internal(err)
		}
		slices.Reverse(acts)
		for _, a := range acts {
			if !seen[a.ActivationID] {
				w.Replay = append(w.Replay, a)
			}
			seen[a.ActivationID] = true
		}
	}
	live := make(chan *whisk.Activation, 16)
	w.Live = live
	go func() {
		defer close(live)
		for a := range src {
			if seen[a.ActivationID] {
				delete(seen, a.ActivationID) // a record is published once: forget it
				continue
			}
			if !matchesName(a, q.Name) {
				continue
			}
			select {
			case live <- a:
			case <-w.stop:
				return
			}
		}
	}()
	return w, nil
}

// matchesName applies the list API's name filter: a bare name matches
// actions outside packages, "pkg/name" the actions of that package (or of
// the binding they were invoked through).
func matchesName(a *whisk.Activation, name string) bool {
	if name == "" {
		return true
	}
	pkgName := packagedName(a)
	if strings.Contains(name, "/") {
		return pkgName == name
	}
	return pkgName == "" && a.Name == name
}

// packagedName is the "pkg/name" under which a packaged action's record is
// listed (the store files it the same way), "" for everything else.
func packagedName(a *whisk.Activation) string {
	if b, ok := a.Annotations.GetString("binding"); ok {
		if _, pkg, ok := strings.Cut(b, "/"); ok && pkg != "" {
			return pkg + "/" + a.Name
		}
	}
	p, ok := a.Annotations.GetString("path")
	if !ok {
		return ""
	}
	if parts := strings.Split(p, "/"); len(parts) == 3 && parts[1] != "" {
		return parts[1] + "/" + a.Name
	}
	return ""
}
