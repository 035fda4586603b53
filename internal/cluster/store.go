package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/gustfaas/gust/internal/controller"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/whisk"
)

// Unavailable wraps a store so that a failure while the store cannot be
// reached (PostgreSQL restarting, the network cut) is a *whisk.Error with
// CodeUnavailable: the API answers 503, "try again", instead of the 500 of
// an unexpected failure. A failed call is classified by pinging the store
// at once: errors of a store that answers the ping are passed on as they
// came, and so are the contract errors (not found, conflict) always.
func Unavailable(st store.Store) store.Store { return unavailableStore{st} }

type unavailableStore struct{ store.Store }

func (s unavailableStore) classify(err error) error {
	if err == nil || errors.Is(err, whisk.ErrNotFound) || errors.Is(err, whisk.ErrConflict) {
		return err
	}
	var werr *whisk.Error
	if errors.As(err, &werr) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.Store.Ping(ctx) == nil {
		return err
	}
	return &whisk.Error{Code: whisk.CodeUnavailable, Message: controller.MsgUnavailable, Err: err}
}

func (s unavailableStore) CreateNamespace(ctx context.Context, ns store.Namespace) error {
	return s.classify(s.Store.CreateNamespace(ctx, ns))
}

func (s unavailableStore) UpdateNamespace(ctx context.Context, ns store.Namespace) error {
	return s.classify(s.Store.UpdateNamespace(ctx, ns))
}

func (s unavailableStore) GetNamespace(ctx context.Context, name string) (store.Namespace, error) {
	ns, err := s.Store.GetNamespace(ctx, name)
	return ns, s.classify(err)
}

func (s unavailableStore) NamespaceByUUID(ctx context.Context, uuid string) (store.Namespace, error) {
	ns, err := s.Store.NamespaceByUUID(ctx, uuid)
	return ns, s.classify(err)
}

func (s unavailableStore) ListNamespaces(ctx context.Context) ([]store.Namespace, error) {
	l, err := s.Store.ListNamespaces(ctx)
	return l, s.classify(err)
}

func (s unavailableStore) DeleteNamespace(ctx context.Context, name string) error {
	return s.classify(s.Store.DeleteNamespace(ctx, name))
}

func (s unavailableStore) GetEntity(ctx context.Context, path, name string) (store.Doc, error) {
	d, err := s.Store.GetEntity(ctx, path, name)
	return d, s.classify(err)
}

func (s unavailableStore) PutEntity(ctx context.Context, doc store.Doc, ifRev int64) (int64, error) {
	rev, err := s.Store.PutEntity(ctx, doc, ifRev)
	return rev, s.classify(err)
}

func (s unavailableStore) DeleteEntity(ctx context.Context, path, name string, ifRev int64) error {
	return s.classify(s.Store.DeleteEntity(ctx, path, name, ifRev))
}

func (s unavailableStore) ListEntities(ctx context.Context, q store.ListQuery) ([]store.Doc, error) {
	l, err := s.Store.ListEntities(ctx, q)
	return l, s.classify(err)
}

func (s unavailableStore) CountEntities(ctx context.Context, q store.ListQuery) (int, error) {
	n, err := s.Store.CountEntities(ctx, q)
	return n, s.classify(err)
}

func (s unavailableStore) PutActivations(ctx context.Context, acts []*whisk.Activation) error {
	return s.classify(s.Store.PutActivations(ctx, acts))
}

func (s unavailableStore) GetActivation(ctx context.Context, namespace, id string) (*whisk.Activation, error) {
	a, err := s.Store.GetActivation(ctx, namespace, id)
	return a, s.classify(err)
}

func (s unavailableStore) ListActivations(ctx context.Context, q store.ActivationQuery) ([]*whisk.Activation, error) {
	l, err := s.Store.ListActivations(ctx, q)
	return l, s.classify(err)
}

func (s unavailableStore) CountActivations(ctx context.Context, q store.ActivationQuery) (int, error) {
	n, err := s.Store.CountActivations(ctx, q)
	return n, s.classify(err)
}
