package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// authCache remembers verified namespaces by key uuid for a short time, so
// that a request costs one SHA-256 instead of a store read. Only the hash is
// kept, never the secret; a presented secret is checked against it on every
// request. Entries expire after Config.AuthCacheTTL because keys can be
// rotated or namespaces removed by another process.
type authCache struct {
	mu      sync.RWMutex
	entries map[string]authEntry
}

type authEntry struct {
	keyHash string
	id      whisk.Identity
	expires time.Time
}

func newAuthCache() *authCache { return &authCache{entries: map[string]authEntry{}} }

func (a *authCache) get(uuid string, now time.Time) (authEntry, bool) {
	a.mu.RLock()
	e, ok := a.entries[uuid]
	a.mu.RUnlock()
	if !ok || now.After(e.expires) {
		return authEntry{}, false
	}
	return e, true
}

func (a *authCache) put(uuid string, e authEntry) {
	a.mu.Lock()
	a.entries[uuid] = e
	a.mu.Unlock()
}

func (a *authCache) drop(uuid string) {
	a.mu.Lock()
	delete(a.entries, uuid)
	a.mu.Unlock()
}

func unauthenticated() *whisk.Error {
	return &whisk.Error{Code: whisk.CodeUnauthorized, Message: whisk.MsgUnauthenticated}
}

// Authenticate maps an API key to the identity owning it. A wrong or unknown
// key is a CodeUnauthorized error.
func (c *Controller) Authenticate(ctx context.Context, uuid, secret string) (whisk.Identity, error) {
	now := c.now()
	if e, ok := c.auth.get(uuid, now); ok {
		if whisk.SecretMatches(secret, e.keyHash) {
			return e.id, nil
		}
		// The key may have been rotated since it was cached: ask the store.
	}
	ns, err := c.store.NamespaceByUUID(ctx, uuid)
	if errors.Is(err, whisk.ErrNotFound) {
		c.auth.drop(uuid)
		return whisk.Identity{}, unauthenticated()
	}
	if err != nil {
		return whisk.Identity{}, internal(err)
	}
	if !whisk.SecretMatches(secret, ns.KeyHash) {
		return whisk.Identity{}, unauthenticated()
	}
	id := identityOf(ns)
	if c.cfg.AuthCacheTTL > 0 {
		c.auth.put(uuid, authEntry{keyHash: ns.KeyHash, id: id, expires: now.Add(c.cfg.AuthCacheTTL)})
	}
	return id, nil
}

func identityOf(ns store.Namespace) whisk.Identity {
	subject := ns.Subject
	if subject == "" {
		subject = ns.Name
	}
	return whisk.Identity{Subject: subject, Namespace: ns.Name, UUID: ns.UUID, Limits: ns.Limits}
}
