package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// This file holds what every entity collection shares: entitlement, the
// OpenWhisk create/update/delete protocol over store.Doc, paging, and the
// entity cache. Actions use it now; packages, triggers and rules slot in by
// passing their collection and a build function.

// Page selects one page of a list (already validated by the caller: limit in
// 1..200, skip ≥ 0).
type Page struct {
	Skip  int
	Limit int
}

// entitled checks that the caller may touch entities of namespace ns. Only
// owners may today; reading and activating inside other namespaces' published
// packages goes through resolvePackage.
func entitled(id whisk.Identity, ns, resource string) error {
	if ns == id.Namespace {
		return nil
	}
	return whisk.Forbidden(resource)
}

func resourceName(path, name string) string {
	if name == "" {
		return path
	}
	return path + "/" + name
}

// getDoc reads path/name from the store and checks its collection: OpenWhisk
// answers 404 for a missing entity and 409 for one of another collection.
func (c *Controller) getDoc(ctx context.Context, coll store.Collection, path, name string) (store.Doc, error) {
	doc, err := c.store.GetEntity(ctx, path, name)
	if errors.Is(err, whisk.ErrNotFound) {
		return store.Doc{}, whisk.NotFound()
	}
	if err != nil {
		return store.Doc{}, internal(err)
	}
	if doc.Collection != coll {
		return store.Doc{}, conformance()
	}
	return doc, nil
}

// buildFunc makes the stored body of an entity from the old document (nil on
// create) and the update time in epoch ms. It returns the JSON body and the
// entity's publish flag.
type buildFunc func(old *store.Doc, updated int64) (body []byte, publish bool, err error)

// putEntity is OpenWhisk's PUT protocol: create if absent; if present, 409
// unless overwrite, else update through build with optimistic concurrency.
//
// cacheAs, when not nil, makes the cache entry of the written document from
// what build produced, so that the first invoke after a deploy neither reads
// the document back nor decodes it (megabytes for a native action), as
// OpenWhisk's entity cache is written through on update.
func (c *Controller) putEntity(ctx context.Context, coll store.Collection, root, path, name string, overwrite bool, build buildFunc, cacheAs func(store.Doc) *cachedEntity) (store.Doc, error) {
	old, err := c.store.GetEntity(ctx, path, name)
	var oldp *store.Doc
	switch {
	case errors.Is(err, whisk.ErrNotFound):
	case err != nil:
		return store.Doc{}, internal(err)
	case old.Collection != coll:
		return store.Doc{}, conformance()
	case !overwrite:
		return store.Doc{}, exists()
	default:
		oldp = &old
	}
	updated := c.nowMS()
	body, publish, err := build(oldp, updated)
	if err != nil {
		return store.Doc{}, err
	}
	doc := store.Doc{Collection: coll, Namespace: root, Path: path, Name: name, Publish: publish, Updated: updated, Body: body}
	var ifRev int64
	if oldp != nil {
		ifRev = oldp.Rev
	}
	epoch := c.entities.epoch.Load()
	rev, err := c.store.PutEntity(ctx, doc, ifRev)
	if err != nil || cacheAs == nil {
		c.Invalidate(path, name)
	}
	if errors.Is(err, whisk.ErrConflict) {
		return store.Doc{}, concurrentUpdate()
	}
	if err != nil {
		return store.Doc{}, internal(err)
	}
	doc.Rev = rev
	if cacheAs != nil {
		e := cacheAs(doc)
		e.loaded = time.UnixMilli(updated)
		c.entities.install(entityKey(path, name), e, epoch)
		if c.onChange != nil {
			c.onChange(path, name)
		}
	}
	return doc, nil
}

// deleteEntity removes path/name if it belongs to coll and returns what was
// deleted (OpenWhisk answers a DELETE with the deleted entity).
func (c *Controller) deleteEntity(ctx context.Context, coll store.Collection, path, name string) (store.Doc, error) {
	doc, err := c.getDoc(ctx, coll, path, name)
	if err != nil {
		return store.Doc{}, err
	}
	err = c.store.DeleteEntity(ctx, path, name, doc.Rev)
	c.Invalidate(path, name)
	switch {
	case errors.Is(err, whisk.ErrNotFound):
		return store.Doc{}, whisk.NotFound()
	case errors.Is(err, whisk.ErrConflict):
		return store.Doc{}, concurrentUpdate()
	case err != nil:
		return store.Doc{}, internal(err)
	}
	return doc, nil
}

func (c *Controller) listDocs(ctx context.Context, coll store.Collection, root, path string, page Page) ([]store.Doc, error) {
	docs, err := c.store.ListEntities(ctx, store.ListQuery{
		Collection: coll, Namespace: root, Path: path, Skip: page.Skip, Limit: page.Limit,
	})
	return docs, internal(err)
}

// countDocs counts the entities after skip, as OpenWhisk's count does.
func (c *Controller) countDocs(ctx context.Context, coll store.Collection, root, path string, skip int) (int, error) {
	n, err := c.store.CountEntities(ctx, store.ListQuery{Collection: coll, Namespace: root, Path: path})
	if err != nil {
		return 0, internal(err)
	}
	return max(0, n-skip), nil
}

// entityKey is the cache key of path/name; names cannot contain '/'.
func entityKey(path, name string) string { return path + "/" + name }

// cachedEntity is one decoded entity. Its values are shared by concurrent
// requests and must never be modified.
type cachedEntity struct {
	coll    store.Collection
	rev     int64
	publish bool
	loaded  time.Time
	size    int

	action *whisk.Action  // coll == Actions
	pkg    *whisk.Package // coll == Packages
	run    *runnable      // precomputed invocation data of an action

	metOnce sync.Once
	met     *actionMetrics
}

// entityCache keeps decoded entities by path/name. A load that raced with an
// invalidation is not stored: every invalidation bumps the epoch, and a
// loader stores its result only if the epoch it read before going to the
// store is still current.
type entityCache struct {
	epoch  atomic.Uint64
	budget int

	mu    sync.RWMutex
	m     map[string]*cachedEntity
	bytes int

	// loads are the store reads in progress, so that a burst of requests
	// for an entity that is not cached reads and decodes it once: a native
	// action's document is megabytes of base64, and a hundred concurrent
	// decodes of it took seconds.
	loadMu sync.Mutex
	loads  map[string]*entityLoad
}

// entityLoad is one store read of an entity, shared by the requests that
// missed the cache while it ran. Only requests that arrive in the same epoch
// join it: one that arrives after an invalidation must read the new version.
type entityLoad struct {
	epoch  uint64
	joined int // requests waiting on it besides the one reading; under loadMu
	done   chan struct{}
	e      *cachedEntity
	err    error
}

func newEntityCache(budget int) *entityCache {
	return &entityCache{budget: budget, m: map[string]*cachedEntity{}, loads: map[string]*entityLoad{}}
}

func (ec *entityCache) get(key string) *cachedEntity {
	ec.mu.RLock()
	e := ec.m[key]
	ec.mu.RUnlock()
	return e
}

func (ec *entityCache) put(key string, e *cachedEntity, epoch uint64) {
	if e.size > ec.budget/4 {
		return // one huge zip must not evict everything else
	}
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if ec.epoch.Load() != epoch {
		return
	}
	if old := ec.m[key]; old != nil {
		ec.bytes -= old.size
	}
	// Evict arbitrary entries (map order is random) until the new one fits:
	// cheap, and good enough for a cache whose misses cost one store read.
	for k, old := range ec.m {
		if ec.bytes+e.size <= ec.budget {
			break
		}
		delete(ec.m, k)
		ec.bytes -= old.size
	}
	ec.m[key] = e
	ec.bytes += e.size
}

// install puts the entity just written in place of key's entry, if no other
// write or invalidation happened since epoch was read (before the write):
// then no later version can be in the store. Otherwise it only invalidates.
// Either way it starts a new epoch, so loads that began before the write
// cannot store what they read.
func (ec *entityCache) install(key string, e *cachedEntity, epoch uint64) {
	ec.mu.Lock()
	current := ec.epoch.Add(1) - 1
	if old := ec.m[key]; old != nil {
		ec.bytes -= old.size
		delete(ec.m, key)
	}
	ec.mu.Unlock()
	if current == epoch {
		ec.put(key, e, epoch+1)
	}
}

func (ec *entityCache) invalidate(key string) {
	ec.mu.Lock()
	ec.epoch.Add(1)
	if old := ec.m[key]; old != nil {
		ec.bytes -= old.size
		delete(ec.m, key)
	}
	ec.mu.Unlock()
}

// Invalidate drops path/name from the entity cache after a write through
// this controller, and tells Deps.OnChange. Writes made by other controllers
// arrive through Forget (cluster.go).
func (c *Controller) Invalidate(path, name string) {
	c.entities.invalidate(entityKey(path, name))
	if c.onChange != nil {
		c.onChange(path, name)
	}
}

// loadEntity returns path/name decoded, from the cache when it is fresh.
// Missing entities are whisk.NotFound errors.
func (c *Controller) loadEntity(ctx context.Context, path, name string) (*cachedEntity, error) {
	key := entityKey(path, name)
	now := c.now()
	if e := c.entities.get(key); e != nil && (c.cfg.EntityCacheTTL <= 0 || now.Sub(e.loaded) < c.cfg.EntityCacheTTL) {
		return e, nil
	}
	ec := c.entities
	ec.loadMu.Lock()
	epoch := ec.epoch.Load()
	if l := ec.loads[key]; l != nil && l.epoch == epoch {
		l.joined++
		ec.loadMu.Unlock()
		select {
		case <-l.done:
			return l.e, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &entityLoad{epoch: epoch, done: make(chan struct{})}
	ec.loads[key] = l
	ec.loadMu.Unlock()

	// Others may be waiting on this read: it must not fail because this
	// request went away.
	loadCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), entityLoadTimeout)
	l.e, l.err = c.readEntity(loadCtx, path, name)
	cancel()
	if l.err == nil {
		l.e.loaded = now
		ec.put(key, l.e, epoch)
	}
	ec.loadMu.Lock()
	if ec.loads[key] == l {
		delete(ec.loads, key)
	}
	ec.loadMu.Unlock()
	close(l.done)
	return l.e, l.err
}

// entityLoadTimeout bounds a store read that requests share.
const entityLoadTimeout = 30 * time.Second

func (c *Controller) readEntity(ctx context.Context, path, name string) (*cachedEntity, error) {
	doc, err := c.store.GetEntity(ctx, path, name)
	if errors.Is(err, whisk.ErrNotFound) {
		return nil, whisk.NotFound()
	}
	if err != nil {
		return nil, internal(err)
	}
	return c.decodeEntity(doc)
}

func (c *Controller) decodeEntity(doc store.Doc) (*cachedEntity, error) {
	e := &cachedEntity{coll: doc.Collection, rev: doc.Rev, publish: doc.Publish, size: len(doc.Body) + 256}
	var err error
	switch doc.Collection {
	case store.Actions:
		e.action = new(whisk.Action)
		if err = json.Unmarshal(doc.Body, e.action); err == nil {
			e.run = c.newRunnable(e.action)
		}
	case store.Packages:
		e.pkg = new(whisk.Package)
		err = json.Unmarshal(doc.Body, e.pkg)
	}
	if err != nil {
		return nil, &whisk.Error{Code: whisk.CodeInternal, Message: "Resource is corrupted and cannot be read.",
			Err: fmt.Errorf("decode %s %s/%s: %w", doc.Collection, doc.Path, doc.Name, err)}
	}
	return e, nil
}
