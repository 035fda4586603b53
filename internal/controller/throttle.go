package controller

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gustfaas/gust/internal/whisk"
)

// throttles enforces the per-namespace limits as OpenWhisk does:
//
//   - invocations per minute: a counter per namespace and calendar minute
//     (OpenWhisk's RateThrottler). Every attempt counts, rejected ones too, so
//     the 429 reports "count: 121, allowed: 120".
//   - concurrent invocations: activations in flight, checked before the new
//     one is counted (OpenWhisk's ActivationThrottler, "count < allowed").
//
// Only blocking invocations are counted in flight, from admission until
// their record arrives (or their blocking wait ends and they complete in the
// background). A non-blocking invocation is accepted into the durable queue
// and completes wherever the queue is consumed — possibly another process —
// so this controller cannot observe its end; it counts toward the per-minute
// rate only, which bounds it as well.
type throttles struct {
	byNamespace sync.Map // namespace → *nsThrottle
}

type nsThrottle struct {
	mu     sync.Mutex
	minute int64
	count  int

	inflight atomic.Int64
}

// slot is one admitted activation's place in its namespace's in-flight
// count; releasing it twice is harmless, a nil slot releases nothing.
type slot struct {
	ns       *nsThrottle
	released atomic.Bool
}

func (s *slot) release() {
	if s != nil && s.released.CompareAndSwap(false, true) {
		s.ns.inflight.Add(-1)
	}
}

func newThrottles() *throttles { return &throttles{} }

func (t *throttles) of(ns string) *nsThrottle {
	if v, ok := t.byNamespace.Load(ns); ok {
		return v.(*nsThrottle)
	}
	v, _ := t.byNamespace.LoadOrStore(ns, &nsThrottle{})
	return v.(*nsThrottle)
}

// Reasons for a 429, the reason label of gust_invocations_throttled_total.
const (
	throttledRate        = "rate"
	throttledConcurrency = "concurrency"
)

// admit counts one invocation of namespace ns at now against its limits (0 =
// unlimited) and returns its in-flight slot (nil when not counted). A refusal
// says which limit refused.
func (t *throttles) admit(ns string, now time.Time, perMinute, concurrent int, blocking bool) (*slot, string, error) {
	if perMinute == 0 && (concurrent == 0 || !blocking) {
		return nil, "", nil
	}
	nt := t.of(ns)
	if perMinute > 0 {
		minute := now.Unix() / 60
		nt.mu.Lock()
		if nt.minute != minute {
			nt.minute, nt.count = minute, 0
		}
		nt.count++
		count := nt.count
		nt.mu.Unlock()
		if count > perMinute {
			return nil, throttledRate, tooManyRequests(count, perMinute)
		}
	}
	if concurrent == 0 || !blocking {
		return nil, "", nil
	}
	if n := nt.inflight.Add(1); n > int64(concurrent) {
		nt.inflight.Add(-1)
		return nil, throttledConcurrency, tooManyConcurrent(int(n-1), concurrent)
	}
	return &slot{ns: nt}, "", nil
}

// throttleLimits returns the effective limits of id: its own, else the
// server's defaults.
func (c *Controller) throttleLimits(id whisk.Identity) (perMinute, concurrent, fires int) {
	pick := func(own *int, def int) int {
		if own != nil && *own >= 0 {
			return *own
		}
		return def
	}
	l := id.Limits
	return pick(l.InvocationsPerMinute, c.cfg.InvocationsPerMinute),
		pick(l.ConcurrentInvocations, c.cfg.ConcurrentInvocations),
		pick(l.FiresPerMinute, c.cfg.FiresPerMinute)
}

// NamespaceLimits is the body of GET /namespaces/{ns}/limits: the effective
// limits with the server's defaults filled in. Memory and logs are in MB,
// timeouts in ms, sizes in OpenWhisk's ByteSize notation. A throttle of 0
// means unlimited.
type NamespaceLimits struct {
	InvocationsPerMinute  int    `json:"invocationsPerMinute"`
	ConcurrentInvocations int    `json:"concurrentInvocations"`
	FiresPerMinute        int    `json:"firesPerMinute"`
	MinActionMemory       int    `json:"minActionMemory"`
	MaxActionMemory       int    `json:"maxActionMemory"`
	MinActionLogs         int    `json:"minActionLogs"`
	MaxActionLogs         int    `json:"maxActionLogs"`
	MinActionTimeout      int    `json:"minActionTimeout"`
	MaxActionTimeout      int    `json:"maxActionTimeout"`
	MinActionConcurrency  int    `json:"minActionConcurrency"`
	MaxActionConcurrency  int    `json:"maxActionConcurrency"`
	MaxParameterSize      string `json:"maxParameterSize"`
	MaxPayloadSize        string `json:"maxPayloadSize"`
	MaxActionInstances    int    `json:"maxActionInstances"`
	StoreActivations      bool   `json:"storeActivations"`
}

// Limits returns the effective limits of namespace ns, which only its owner
// may read.
func (c *Controller) Limits(id whisk.Identity, ns string) (NamespaceLimits, error) {
	if err := entitled(id, ns, ns); err != nil {
		return NamespaceLimits{}, err
	}
	perMinute, concurrent, fires := c.throttleLimits(id)
	cfg := c.cfg
	return NamespaceLimits{
		InvocationsPerMinute:  perMinute,
		ConcurrentInvocations: concurrent,
		FiresPerMinute:        fires,
		MinActionMemory:       cfg.MemoryMB.Min,
		MaxActionMemory:       cfg.MemoryMB.Max,
		MinActionLogs:         cfg.LogsMB.Min,
		MaxActionLogs:         cfg.LogsMB.Max,
		MinActionTimeout:      cfg.TimeoutMS.Min,
		MaxActionTimeout:      cfg.TimeoutMS.Max,
		MinActionConcurrency:  cfg.Concurrency.Min,
		MaxActionConcurrency:  cfg.Concurrency.Max,
		MaxParameterSize:      byteSize(cfg.MaxParameterBytes),
		MaxPayloadSize:        byteSize(cfg.MaxPayloadBytes),
		MaxActionInstances:    concurrent,
		StoreActivations:      cfg.StoreActivations,
	}, nil
}

func byteSize(n int) string { return strconv.Itoa(n) + " B" }
