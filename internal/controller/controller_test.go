package controller

import (
	"encoding/json"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

func TestArgsMerge(t *testing.T) {
	c := &Controller{kinds: nil}
	action := func(params string, annotations string) *whisk.Action {
		a := &whisk.Action{Exec: whisk.Exec{Kind: whisk.KindSequence}}
		if err := json.Unmarshal([]byte(params), &a.Parameters); err != nil {
			t.Fatal(err)
		}
		if annotations != "" {
			if err := json.Unmarshal([]byte(annotations), &a.Annotations); err != nil {
				t.Fatal(err)
			}
		}
		return a
	}
	for _, tc := range []struct {
		name, params, annotations, body, want, err string
	}{
		{"NoParamsNoBody", `[]`, "", ``, `{}`, ""},
		{"NoParamsBodyAsIs", `[]`, "", ` {"a": 1} `, `{"a": 1}`, ""},
		{"DefaultsOnly", `[{"key":"p","value":"x"}]`, "", ``, `{"p":"x"}`, ""},
		{"EmptyBody", `[{"key":"p","value":"x"}]`, "", `{ }`, `{"p":"x"}`, ""},
		{"BodyWins", `[{"key":"p","value":"x"},{"key":"q","value":2}]`, "", `{"p":"y","r":[1]}`, `{"q":2,"p":"y","r":[1]}`, ""},
		{"EscapedKeyOverrides", `[{"key":"p","value":"x"}]`, "", `{"\u0070":"y"}`, `{"\u0070":"y"}`, ""},
		{"InitExcluded", `[{"key":"p","value":"x","init":true},{"key":"q","value":1}]`, "", `{}`, `{"q":1}`, ""},
		{"KeyNeedsEscaping", `[{"key":"a\"b","value":null}]`, "", ``, `{"a\"b":null}`, ""},
		{"Final", `[{"key":"p","value":"x"}]`, `[{"key":"final","value":true}]`, `{"p":"y"}`, "", whisk.MsgFinalParams},
		{"FinalNullIsOpen", `[{"key":"p","value":null}]`, `[{"key":"final","value":true}]`, `{"p":"y"}`, `{"p":"y"}`, ""},
		{"FinalOtherKey", `[{"key":"p","value":1}]`, `[{"key":"final","value":true}]`, `{"q":"y"}`, `{"p":1,"q":"y"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := c.newRunnable(action(tc.params, tc.annotations))
			got, err := run.args(json.RawMessage(tc.body))
			if tc.err != "" {
				if err == nil || err.(*whisk.Error).Message != tc.err {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("args %s, want %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("args %s are not JSON", got)
			}
		})
	}
	run := c.newRunnable(action(`[{"key":"s","value":"text","init":true},{"key":"o","value":{"a":1},"init":true}]`, ""))
	if run.initEnv["s"] != "text" || run.initEnv["o"] != `{"a":1}` {
		t.Errorf("init env %v", run.initEnv)
	}
}

func TestThrottles(t *testing.T) {
	th := newThrottles()
	now := time.Unix(1717000000, 0)
	// Rate: every attempt counts, refusals report the count.
	for i := 1; i <= 3; i++ {
		_, reason, err := th.admit("ns", now, 2, 0, false)
		if (i <= 2) != (err == nil) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if i == 3 && (reason != throttledRate || err.Error() != "Too many requests in the last minute (count: 3, allowed: 2).") {
			t.Fatalf("attempt 3: %s %v", reason, err)
		}
	}
	if _, _, err := th.admit("ns", now.Add(time.Minute), 2, 0, false); err != nil {
		t.Fatalf("next minute: %v", err)
	}
	if _, _, err := th.admit("other", now, 2, 0, false); err != nil {
		t.Fatalf("other namespace: %v", err)
	}

	// Concurrency: blocking work holds a slot until released; releasing twice is harmless.
	s1, _, err := th.admit("c", now, 0, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	s2, _, _ := th.admit("c", now, 0, 2, true)
	_, reason, err := th.admit("c", now, 0, 2, true)
	if reason != throttledConcurrency || err == nil || err.Error() != "Too many concurrent requests in flight (count: 2, allowed: 2)." {
		t.Fatalf("third concurrent: %s %v", reason, err)
	}
	if s, _, err := th.admit("c", now, 0, 2, false); err != nil || s != nil {
		t.Fatalf("non-blocking work is not counted in flight: %v %v", s, err)
	}
	s1.release()
	s1.release()
	if _, _, err := th.admit("c", now, 0, 2, true); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	s2.release()
	var nilSlot *slot
	nilSlot.release()
}

// TestThrottlesHammer admits and releases from many goroutines and checks
// that the in-flight count never exceeds the limit and returns to zero.
func TestThrottlesHammer(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	th := newThrottles()
	const limit = 5
	var (
		mu      sync.Mutex
		current int
		peak    int
		wg      sync.WaitGroup
	)
	for range 16 {
		wg.Go(func() {
			for range 500 {
				s, _, err := th.admit("ns", time.Unix(0, 0), 0, limit, true)
				if err != nil {
					continue
				}
				mu.Lock()
				current++
				peak = max(peak, current)
				mu.Unlock()
				runtime.Gosched()
				mu.Lock()
				current--
				mu.Unlock()
				s.release()
			}
		})
	}
	wg.Wait()
	if peak > limit {
		t.Errorf("peak in flight %d > limit %d", peak, limit)
	}
	if n := th.of("ns").inflight.Load(); n != 0 {
		t.Errorf("in flight after all releases: %d", n)
	}
}

func TestEntityCacheEpoch(t *testing.T) {
	ec := newEntityCache(1 << 20)
	stale := &cachedEntity{size: 10}
	epoch := ec.epoch.Load()
	ec.invalidate("ns/a") // a write lands while the load is in flight
	ec.put("ns/a", stale, epoch)
	if ec.get("ns/a") != nil {
		t.Fatal("a load that raced with an invalidation was cached")
	}
	fresh := &cachedEntity{size: 10}
	ec.put("ns/a", fresh, ec.epoch.Load())
	if ec.get("ns/a") != fresh {
		t.Fatal("a fresh load was not cached")
	}
	// A write installs its entity only if nothing else changed since it
	// began; a load that began before it cannot store afterwards.
	before := ec.epoch.Load()
	loading := ec.epoch.Load()
	written := &cachedEntity{size: 10, rev: 2}
	ec.install("ns/a", written, before)
	if ec.get("ns/a") != written {
		t.Fatal("an uncontended write was not installed")
	}
	ec.put("ns/a", &cachedEntity{size: 10, rev: 1}, loading)
	if ec.get("ns/a") != written {
		t.Fatal("a load older than a write replaced it")
	}
	before = ec.epoch.Load()
	ec.invalidate("ns/a") // another write lands between this one's store write and its install
	ec.install("ns/a", &cachedEntity{size: 10, rev: 3}, before)
	if ec.get("ns/a") != nil {
		t.Fatal("a write that raced with another was installed")
	}
	// The byte budget evicts.
	small := newEntityCache(100)
	for i := range 20 {
		small.put(string(rune('a'+i)), &cachedEntity{size: 20}, small.epoch.Load())
	}
	if small.bytes > 100 || len(small.m) > 5 {
		t.Errorf("cache holds %d bytes in %d entries, budget 100", small.bytes, len(small.m))
	}
}

func TestNormalizeVersion(t *testing.T) {
	for in, want := range map[string]string{"1": "1.0.0", "1.2": "1.2.0", "0.0.7": "0.0.7", "0": "", "a.b": "", "1.2.3.4": "", "-1": "", "": ""} {
		got, ok := normalizeVersion(in)
		if got != want || ok != (want != "") {
			t.Errorf("normalizeVersion(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().validate(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.DefaultMemoryMB = 1024
	if cfg.validate() == nil {
		t.Error("a default memory outside its range was accepted")
	}
}
