// Package store is the persistence seam: identities, entities, activations and,
// for the single-process shape, the durable queue of accepted invocations.
//
// Contract for every implementation (checked by store/storetest):
//   - Missing rows are reported as an error matching whisk.ErrNotFound (errors.Is).
//   - Create of an existing key and a revision mismatch on update or delete are
//     reported as an error matching whisk.ErrConflict.
//   - All methods are safe for concurrent use. A returned error means nothing was
//     written: every method is one transaction.
//   - Lists are ordered newest first (entities by Updated, activations by Start).
package store

import (
	"context"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// Collection names an entity kind. Actions, packages, triggers and rules share
// one name space per path, as in OpenWhisk, where the document id is path/name.
type Collection string

const (
	Actions  Collection = "actions"
	Packages Collection = "packages"
	Triggers Collection = "triggers"
	Rules    Collection = "rules"
)

// Doc is a stored entity: its key, revision and JSON body (a whisk.Action,
// whisk.Package, ...). Bodies are opaque to the store.
type Doc struct {
	Collection Collection
	Namespace  string // the root namespace that owns the entity
	Path       string // "ns" or "ns/pkg"
	Name       string
	Rev        int64 // >0 once stored; increases on every update
	Updated    int64 // epoch ms
	Publish    bool
	Body       []byte
}

// ListQuery selects entities of one collection in one namespace.
type ListQuery struct {
	Collection Collection
	Namespace  string // root namespace
	Path       string // when set, only entities whose path is exactly this ("ns/pkg")
	Skip       int
	Limit      int  // 0 = no limit
	Published  bool // only published entities
}

// ActivationQuery selects activations of one namespace.
type ActivationQuery struct {
	Namespace string
	// Name is "action" (matches actions outside packages) or "pkg/action", as
	// OpenWhisk files records (a binding's name wins over the package's).
	Name  string
	Since int64 // epoch ms, inclusive; 0 = unbounded
	Upto  int64 // epoch ms, inclusive; 0 = unbounded
	Skip  int
	Limit int // 0 = no limit
}

// Namespace is a tenant: its name, its key's uuid and the key's hash (never the key).
type Namespace struct {
	Name    string
	Subject string
	UUID    string
	KeyHash string
	Limits  whisk.NamespaceLimits
	Created int64
}

// QueueItem is one accepted, not yet recorded invocation.
type QueueItem struct {
	ID       string // the activation id
	Body     []byte
	Attempts int // deliveries so far, this one included
}

// Store is the persistence seam.
type Store interface {
	CreateNamespace(ctx context.Context, ns Namespace) error
	UpdateNamespace(ctx context.Context, ns Namespace) error
	GetNamespace(ctx context.Context, name string) (Namespace, error)
	NamespaceByUUID(ctx context.Context, uuid string) (Namespace, error)
	ListNamespaces(ctx context.Context) ([]Namespace, error)
	// DeleteNamespace removes the namespace with its entities and activations.
	DeleteNamespace(ctx context.Context, name string) error

	// GetEntity returns the entity at path/name whatever its collection; callers
	// check Doc.Collection.
	GetEntity(ctx context.Context, path, name string) (Doc, error)
	// PutEntity creates (ifRev == 0) or updates (ifRev == the stored Rev) an
	// entity and returns the new revision.
	PutEntity(ctx context.Context, doc Doc, ifRev int64) (int64, error)
	// DeleteEntity deletes path/name if its revision is ifRev (0 = any).
	DeleteEntity(ctx context.Context, path, name string, ifRev int64) error
	ListEntities(ctx context.Context, q ListQuery) ([]Doc, error)
	CountEntities(ctx context.Context, q ListQuery) (int, error)

	// PutActivations stores records; a record whose id is already stored is
	// left as it is (one record per activation id, whoever writes twice).
	PutActivations(ctx context.Context, acts []*whisk.Activation) error
	GetActivation(ctx context.Context, namespace, id string) (*whisk.Activation, error)
	ListActivations(ctx context.Context, q ActivationQuery) ([]*whisk.Activation, error)
	// CountActivations (like CountEntities) counts what the list would hold
	// without a limit: the matches minus Skip, never below zero.
	CountActivations(ctx context.Context, q ActivationQuery) (int, error)

	// Ping reports whether the store can serve (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// Queue is the durable work queue of accepted invocations, used by the
// in-process bus. Enqueue returns only once the item is durable.
type Queue interface {
	Enqueue(ctx context.Context, id string, body []byte) error
	// Claim leases up to max items that are unclaimed or whose lease expired,
	// oldest first, incrementing their attempt counts.
	Claim(ctx context.Context, owner string, max int, lease time.Duration) ([]QueueItem, error)
	// Renew extends the leases of ids held by owner.
	Renew(ctx context.Context, owner string, ids []string, lease time.Duration) error
	// Release makes ids claimable again after delay (a negative acknowledgement).
	Release(ctx context.Context, ids []string, delay time.Duration) error
	// Ack removes ids; unknown ids are ignored.
	Ack(ctx context.Context, ids []string) error
	// Recover makes every item leased by owner claimable at once: the restart
	// of a process that reuses its owner name after a crash.
	Recover(ctx context.Context, owner string) (int, error)
}
