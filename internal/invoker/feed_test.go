package invoker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/invoker"
	"github.com/gustfaas/gust/internal/store/sqlite"
	"github.com/gustfaas/gust/internal/whisk"
)

func newRecorder(t *testing.T) (*invoker.Recorder, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "gust.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rec := invoker.NewRecorder(invoker.DefaultRecorderConfig(), st, nil)
	t.Cleanup(rec.Close)
	return rec, st
}

func record(ns, name string, start int64) *whisk.Activation {
	return &whisk.Activation{Namespace: ns, Name: name, Version: "0.0.1", Subject: ns,
		ActivationID: whisk.NewActivationID(), Start: start, End: start + 1}
}

func receive(t *testing.T, ch <-chan *whisk.Activation) *whisk.Activation {
	t.Helper()
	select {
	case a, ok := <-ch:
		if !ok {
			t.Fatal("feed closed")
		}
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no record from the feed within 10 s")
	}
	return nil
}

// TestFeedDeliversCommittedRecordsByNamespace: a subscriber sees its
// namespace's records, only once they can be read from the store.
func TestFeedDeliversCommittedRecordsByNamespace(t *testing.T) {
	rec, st := newRecorder(t)
	guest, cancelGuest := rec.Subscribe("guest")
	defer cancelGuest()
	all, cancelAll := rec.Subscribe("")
	defer cancelAll()
	other, cancelOther := rec.Subscribe("alice")
	defer cancelOther()

	a, b := record("guest", "one", 1), record("bob", "two", 2)
	rec.Record(a)
	rec.Record(b)

	got := receive(t, guest)
	if got.ActivationID != a.ActivationID {
		t.Fatalf("guest feed got %s/%s, want %s", got.Namespace, got.Name, a.ActivationID)
	}
	if _, err := st.GetActivation(context.Background(), "guest", a.ActivationID); err != nil {
		t.Fatalf("a published record is not in the store yet: %v", err)
	}
	seen := map[string]bool{receive(t, all).ActivationID: true, receive(t, all).ActivationID: true}
	if !seen[a.ActivationID] || !seen[b.ActivationID] {
		t.Fatalf("the all-namespaces feed missed a record: %v", seen)
	}
	select {
	case x := <-other:
		t.Fatalf("alice's feed got a record of %s", x.Namespace)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestFeedDropsOldestForSlowSubscriber: a subscriber that reads nothing
// never holds up the writer, and keeps the newest records.
func TestFeedDropsOldestForSlowSubscriber(t *testing.T) {
	rec, st := newRecorder(t)
	ch, cancel := rec.Subscribe("guest")
	// A probe that keeps up tells when the last record has been published.
	probe, cancelProbe := rec.Subscribe("guest")
	defer cancelProbe()
	const n = 600
	last := record("guest", "last", n)
	published := make(chan struct{})
	go func() {
		for a := range probe {
			if a.ActivationID == last.ActivationID {
				close(published)
				return
			}
		}
	}()
	for i := range n - 1 {
		rec.Record(record("guest", fmt.Sprintf("a%d", i), int64(i)))
	}
	rec.Record(last)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := st.GetActivation(context.Background(), "guest", last.ActivationID); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer did not commit every record with a subscriber that reads nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The publish of the last batch follows its commit; wait for it. It
	// holds the subscriptions' lock while it hands the batch to every
	// subscriber, so a Subscribe after the probe got the record returns
	// once the slow subscriber got it too.
	select {
	case <-published:
	case <-time.After(time.Until(deadline)):
		t.Fatal("the last record was not published")
	}
	_, barrier := rec.Subscribe("guest")
	barrier()
	var got []*whisk.Activation
	for len(ch) > 0 {
		got = append(got, <-ch)
	}
	if len(got) == 0 || len(got) > 256 {
		t.Fatalf("buffered %d records, want 1..256", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Start <= got[i-1].Start {
			t.Fatalf("records out of order: %d after %d", got[i].Start, got[i-1].Start)
		}
	}
	if got[len(got)-1].ActivationID != last.ActivationID {
		t.Fatalf("the newest record was dropped; last kept is %s", got[len(got)-1].Name)
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after cancel")
	}
	cancel() // twice is fine
}

// TestFeedClosesWithRecorder: watchers learn that no record will follow.
func TestFeedClosesWithRecorder(t *testing.T) {
	rec, _ := newRecorder(t)
	ch, cancel := rec.Subscribe("guest")
	defer cancel()
	a := record("guest", "one", 1)
	rec.Record(a)
	rec.Close()
	if got := receive(t, ch); got.ActivationID != a.ActivationID {
		t.Fatalf("got %s before close", got.ActivationID)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel open after Close")
	}
	late, cancelLate := rec.Subscribe("guest")
	defer cancelLate()
	if _, ok := <-late; ok {
		t.Fatal("a subscription after Close is open")
	}
}
