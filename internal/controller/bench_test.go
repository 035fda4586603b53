package controller

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/gustfaas/gust/internal/runtimes"
	"github.com/gustfaas/gust/internal/store"
	"github.com/gustfaas/gust/internal/store/sqlite"
	"github.com/gustfaas/gust/internal/whisk"
)

// answeringInvoker completes every activation at once with its arguments
// as the result. It is not a stand-in in a test of behaviour: it keeps the
// sandbox out of BenchmarkInvokeCached so that the figure is the
// controller's own share of a warm invoke (the whole path is `gust bench`).
type answeringInvoker struct{}

func (answeringInvoker) Start(msg *whisk.ActivationMessage) (<-chan *whisk.Activation, error) {
	ch := make(chan *whisk.Activation, 1)
	ch <- &whisk.Activation{
		Namespace: msg.Identity.Namespace, Name: msg.ActionFQN.Name, Subject: msg.Identity.Subject,
		ActivationID: msg.ActivationID, Response: whisk.NewResponse(whisk.StatusSuccess, msg.Args),
	}
	return ch, nil
}

type refusingAcceptor struct{}

func (refusingAcceptor) Accept(context.Context, *whisk.ActivationMessage) error {
	return errors.New("BenchmarkInvokeCached invokes blocking only")
}

// BenchmarkInvokeCached invokes an action whose entity and key are cached:
// authentication, throttles, resolution, argument merge with a default
// parameter and the wait for the record.
func BenchmarkInvokeCached(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "gust.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	reg, err := runtimes.NewRegistry(runtimes.Config{CacheDir: filepath.Join(os.TempDir(), "gust-runtimes-test")})
	if err != nil {
		b.Fatal(err)
	}
	key := whisk.NewAuthKey()
	if err := st.CreateNamespace(ctx, store.Namespace{Name: "guest", Subject: "guest", UUID: key.UUID,
		KeyHash: whisk.HashSecret(key.Secret)}); err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.InvocationsPerMinute, cfg.ConcurrentInvocations = 0, 0
	c, err := New(cfg, Deps{Store: st, Invoker: answeringInvoker{}, Acceptor: refusingAcceptor{}, Kinds: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	id, err := c.Authenticate(ctx, key.UUID, key.Secret)
	if err != nil {
		b.Fatal(err)
	}
	code := "#!/bin/sh\n"
	fqn := whisk.FQN{Namespace: "guest", Name: "noop"}
	if _, err := c.PutAction(ctx, id, fqn, &whisk.ActionPut{
		Exec:       &whisk.Exec{Kind: whisk.KindBlackbox, Image: "openwhisk/dockerskeleton", Code: &code},
		Parameters: whisk.KeyValues{}.Set("greeting", "hello"),
	}, false); err != nil {
		b.Fatal(err)
	}
	req := InvokeRequest{Action: fqn, Args: json.RawMessage(`{"n":1}`), Blocking: true, APIKey: key.String()}
	b.ReportAllocs()
	for b.Loop() {
		id, err := c.Authenticate(ctx, key.UUID, key.Secret)
		if err != nil {
			b.Fatal(err)
		}
		res, err := c.Invoke(ctx, id, req)
		if err != nil {
			b.Fatal(err)
		}
		if res.Activation == nil || !res.Activation.Response.Success {
			b.Fatalf("invoke: %+v", res)
		}
	}
}
