package controller

import (
	"github.com/gustfaas/gust/internal/whisk"
)

// What cluster mode needs of a controller: every controller of a cluster
// caches entities and API routes, and enforces the namespace throttles
// without a shared counter.

// Forget drops path/name from the caches because another process wrote it.
// The API routes of the namespace go too: they are cached by namespace, and
// a route write names its base path, not an entity this cache holds.
func (c *Controller) Forget(path, name string) {
	c.entities.invalidate(entityKey(path, name))
	ns, _ := whisk.SplitPath(path)
	c.apis.invalidate(ns)
}

// ForgetAll empties the entity and route caches: the process lost its
// connection to the bus and may have missed invalidations. Loads that were
// in progress are not cached (the epochs move on).
func (c *Controller) ForgetAll() {
	ec := c.entities
	ec.mu.Lock()
	ec.epoch.Add(1)
	clear(ec.m)
	ec.bytes = 0
	ec.mu.Unlock()

	c.apis.mu.Lock()
	c.apis.epoch.Add(1)
	clear(c.apis.m)
	c.apis.mu.Unlock()
}

// individualLimits are the throttles this controller enforces: a
// namespace's limits divided among the controllers of the cluster, as
// OpenWhisk's sharding balancer does (Entitlement.calculateIndividualLimit):
// each controller counts only what it admits, so each may admit its share,
// at least 1. Unlike OpenWhisk, the limit is not first dilated by 20% for an
// uneven load balancer: the sum of the shares never exceeds the limit (or
// the number of controllers, when that is larger), at the price of a lower
// effective limit when the load balancer favours one controller. 0 stays
// unlimited.
func (c *Controller) individualLimits(id whisk.Identity) (perMinute, concurrent, fires int) {
	perMinute, concurrent, fires = c.throttleLimits(id)
	if c.controllers == nil {
		return
	}
	n := c.controllers()
	if n <= 1 {
		return
	}
	share := func(limit int) int {
		if limit == 0 {
			return 0
		}
		return max(limit/n, 1)
	}
	return share(perMinute), share(concurrent), share(fires)
}

// ForgetNamespace drops what this controller caches of namespace ns's
// record — its key and limits, as verified keys and web owners hold them —
// because another process changed it (`gust admin` on a cluster's store).
func (c *Controller) ForgetNamespace(ns string) {
	c.auth.mu.Lock()
	for uuid, e := range c.auth.entries {
		if e.id.Namespace == ns {
			delete(c.auth.entries, uuid)
		}
	}
	c.auth.mu.Unlock()
	c.owners.mu.Lock()
	delete(c.owners.m, ns)
	c.owners.mu.Unlock()
}
