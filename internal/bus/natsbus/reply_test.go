package natsbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/bus"
)

func mustRequester(t *testing.T, b *Bus, name string) *Requester {
	t.Helper()
	r, err := NewRequester(b, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestRequestReply runs requests from one process against two serving
// processes in one group, over real NATS.
func TestRequestReply(t *testing.T) {
	cfg := testConfig(t)
	controller, inv1, inv2 := mustNew(t, cfg), mustNew(t, cfg), mustNew(t, cfg)
	ctx := t.Context()
	r := mustRequester(t, controller, "controller0")

	var mu sync.Mutex
	served := map[string]int{}
	serve := func(b *Bus, who string) {
		sub, err := NewReplier(b).Serve("run", func(data []byte) ([]byte, error) {
			mu.Lock()
			served[who]++
			mu.Unlock()
			switch s := string(data); {
			case s == "fail":
				return nil, errors.New("the action failed:\nout of memory")
			case strings.HasPrefix(s, "slow"):
				time.Sleep(time.Second)
			}
			return []byte("ran " + string(data)), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sub.Stop)
	}
	serve(inv1, "inv1")
	serve(inv2, "inv2")

	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := fmt.Sprintf("job-%d", i)
				got, err := r.Request(ctx, "run", []byte(req))
				if err != nil || string(got) != "ran "+req {
					t.Errorf("Request(%s) = %q, %v", req, got, err)
				}
			}()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if served["inv1"]+served["inv2"] != 40 {
			t.Fatalf("served %v, want 40 requests in all, each once", served)
		}
		t.Logf("served %v", served)
	})

	t.Run("HandlerError", func(t *testing.T) {
		_, err := r.Request(ctx, "run", []byte("fail"))
		var re *RemoteError
		if !errors.As(err, &re) || re.Message != "the action failed: out of memory" {
			t.Fatalf("Request = %v, want a RemoteError with the handler's message", err)
		}
	})

	t.Run("NoResponders", func(t *testing.T) {
		began := time.Now()
		_, err := r.Request(ctx, "nobody.serves.this", nil)
		if !errors.Is(err, ErrNoResponders) || time.Since(began) > time.Second {
			t.Fatalf("Request to an unserved subject = %v after %v, want ErrNoResponders at once", err, time.Since(began))
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := r.Request(tctx, "run", []byte("slow"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Request past its deadline = %v", err)
		}
		// The late reply is dropped, and the requester keeps working.
		time.Sleep(time.Second)
		if got, err := r.Request(ctx, "run", []byte("again")); err != nil || string(got) != "ran again" {
			t.Fatalf("Request after a timeout = %q, %v", got, err)
		}
	})
}

// TestAwaitReply is the shape of a blocking invoke over the durable bus: the
// controller awaits the activation id before publishing the work, and the
// invoker that ran it replies to the completion subject carried in it.
func TestAwaitReply(t *testing.T) {
	cfg := testConfig(t)
	controller, invoker := mustNew(t, cfg), mustNew(t, cfg)
	ctx := t.Context()
	r := mustRequester(t, controller, "controller1")

	const id = "0123456789abcdef0123456789abcdef"
	a, err := r.Await(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Await(id); err == nil {
		t.Fatal("a second Await of one token succeeded")
	}
	work := []byte(a.Subject() + " " + id)
	if err := controller.Publish(ctx, "invoke", id, work); err != nil {
		t.Fatal(err)
	}
	sub, err := invoker.Consume(ctx, "invoke", 1, func(d bus.Delivery) {
		replyTo, _, _ := strings.Cut(string(d.Data()), " ")
		if err := invoker.Reply(replyTo, []byte(`{"activationId":"`+d.ID()+`"}`)); err != nil {
			t.Error(err)
		}
		d.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	got, err := a.Wait(ctx)
	if err != nil || string(got) != `{"activationId":"`+id+`"}` {
		t.Fatalf("Wait = %q, %v", got, err)
	}

	for _, bad := range []string{cfg.Prefix + ".invoke", "elsewhere.reply", cfg.Prefix + "-reply.*"} {
		if err := invoker.Reply(bad, []byte("x")); err == nil {
			t.Errorf("Reply to %q succeeded; only completion subjects may be replied to", bad)
		}
	}

	// Closing the requester ends waits in progress.
	b, err := r.Await("other")
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := b.Wait(ctx); err == nil {
		t.Fatal("Wait after Close succeeded")
	}
	if _, err := r.Await("more"); err == nil {
		t.Fatal("Await after Close succeeded")
	}
}

// TestServeStop: Stop lets a running handler answer, and afterwards nothing
// serves the subject.
func TestServeStop(t *testing.T) {
	cfg := testConfig(t)
	b := mustNew(t, cfg)
	ctx := t.Context()
	r := mustRequester(t, b, "controller2")
	started := make(chan struct{})
	sub, err := NewReplier(b).Serve("run", func(data []byte) ([]byte, error) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return []byte("done"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reply := make(chan string, 1)
	go func() {
		got, err := r.Request(ctx, "run", nil)
		reply <- string(got) + " " + fmt.Sprint(err)
	}()
	<-started
	sub.Stop()
	if got := <-reply; got != "done <nil>" {
		t.Fatalf("request running at Stop got %q, want its answer", got)
	}
	if _, err := r.Request(ctx, "run", nil); !errors.Is(err, ErrNoResponders) {
		t.Fatalf("Request after Stop = %v, want ErrNoResponders", err)
	}
}
