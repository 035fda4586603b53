package cluster

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/gustfaas/gust/internal/bus"
)

// Cache is what a controller caches (*controller.Controller).
type Cache interface {
	// Forget drops path/name, written by another process.
	Forget(path, name string)
	// ForgetAll drops everything: invalidations may have been missed.
	ForgetAll()
	// ForgetNamespace drops the cached record (key, limits) of a namespace.
	ForgetNamespace(ns string)
}

// invalidation is the broadcast of one entity write.
type invalidation struct {
	From string `json:"from"`
	Path string `json:"path,omitempty"`
	Name string `json:"name,omitempty"`
	// Namespace names a namespace whose record (key, limits) changed.
	Namespace string `json:"namespace,omitempty"`
}

// Caches keeps the entity caches of a cluster's controllers coherent
// (OpenWhisk's cacheInvalidation topic, made synchronous). Every write
// through a controller calls Changed, which broadcasts it and waits until
// every other healthy controller has dropped the entity and answered, or
// until Wait has passed: so a change is never run in its old version
// through another controller once the write has returned, unless that
// controller could not be reached meanwhile.
//
// A controller whose connection to the bus drops forgets its whole cache,
// and forgets it again when the connection is back, since broadcasts sent
// in between never reach it: what it caches after the reconnection was read
// after it. Entity cache TTLs (controller.Config.EntityCacheTTL) bound what
// is left: a controller that is connected and alive but answers too slowly
// (longer than Wait), or a write through a controller that is itself cut
// off from the bus.
type Caches struct {
	bus     Bus
	members *Members
	self    string
	cache   Cache
	wait    time.Duration
	log     *slog.Logger
	sub     bus.Subscription
}

// StartCaches begins receiving the other controllers' invalidations.
func StartCaches(b Bus, members *Members, self string, cache Cache, wait time.Duration, log *slog.Logger) (*Caches, error) {
	if log == nil {
		log = slog.Default()
	}
	if wait <= 0 {
		wait = 2 * time.Second
	}
	c := &Caches{bus: b, members: members, self: self, cache: cache, wait: wait, log: log.With("component", "cluster-caches")}
	ack, _ := json.Marshal(invalidation{From: self})
	sub, err := b.Listen(subjectCache, func(data []byte) []byte {
		var inv invalidation
		if err := json.Unmarshal(data, &inv); err != nil || inv.From == self {
			return nil
		}
		if inv.Namespace != "" {
			cache.ForgetNamespace(inv.Namespace)
		} else {
			cache.Forget(inv.Path, inv.Name)
		}
		return ack
	})
	if err != nil {
		return nil, err
	}
	c.sub = sub
	b.OnConnectionChange(func(up bool) {
		cache.ForgetAll()
		c.log.Info("forgot every cached entity: invalidations may have been missed", "connected", up)
	})
	return c, nil
}

// Changed tells the other controllers that path/name was written and waits
// for them to have forgotten it (Deps.OnChange of the controller).
func (c *Caches) Changed(path, name string) {
	want := 0
	for _, m := range c.members.List(RoleController) {
		if m.ID != c.self && m.State == StateHealthy {
			want++
		}
	}
	data, _ := json.Marshal(invalidation{From: c.self, Path: path, Name: name})
	answers, err := c.bus.Gather(context.Background(), subjectCache, data, want, c.wait)
	switch {
	case err != nil:
		c.log.Warn("could not tell the other controllers of a change; they may use their cached copy until it expires",
			"entity", path+"/"+name, "err", err)
	case len(answers) < want:
		c.log.Warn("not every controller confirmed a change in time; the others may use their cached copy until it expires",
			"entity", path+"/"+name, "confirmed", len(answers), "controllers", want)
	}
}

// Stop stops receiving invalidations.
func (c *Caches) Stop() { c.sub.Stop() }

// NamespaceChanged tells the controllers of a cluster that the record of
// namespace ns changed in the store (a key rotated, limits changed, the
// namespace deleted), so that they stop trusting what they cached of it,
// and returns how many confirmed within wait. Without it they would within
// their authentication cache's TTL (5 s).
func NamespaceChanged(ctx context.Context, b Bus, ns string, wait time.Duration) (int, error) {
	data, _ := json.Marshal(invalidation{From: "admin", Namespace: ns})
	answers, err := b.Gather(ctx, subjectCache, data, 1024, wait)
	return len(answers), err
}
