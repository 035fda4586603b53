package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gustfaas/gust/internal/bus"
)

// Heartbeat is what a member says about itself every second.
type Heartbeat struct {
	Role      string    `json:"role"`
	ID        string    `json:"id"`
	Version   string    `json:"version,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	// Stopping is set by a member shutting down gracefully: nothing new is
	// placed on it, and its queue is adopted at once.
	Stopping bool `json:"stopping,omitempty"`

	// Invokers: memory for sandboxes and what holds it, activations in
	// progress (running or waiting for memory) and done since the start,
	// and the subjects of other invokers this one consumes.
	UserMB      int      `json:"userMB,omitempty"`
	UsedMB      int      `json:"usedMB,omitempty"`
	Busy        int      `json:"busy,omitempty"`
	Warm        int      `json:"warm,omitempty"`
	StemCells   int      `json:"stemCells,omitempty"`
	Activations uint64   `json:"activations,omitempty"`
	Adopted     []string `json:"adopted,omitempty"`

	// Controllers: how many watchers of activation streams it serves (the
	// members announce records only while someone watches).
	Watchers int `json:"watchers,omitempty"`
}

// States of a member in the table.
const (
	StateHealthy  = "healthy"
	StateStopping = "stopping"
	StateOffline  = "offline"
)

// Member is a heartbeat as the table keeps it.
type Member struct {
	Heartbeat
	LastSeen time.Time `json:"lastSeen"`
	// Age is how long ago the last heartbeat came, when the table was read
	// (clocks of different machines need not agree on LastSeen).
	Age   time.Duration `json:"age"`
	State string        `json:"state"`
}

// Members is the table of a cluster's members, built from their heartbeats.
// It is safe for concurrent use.
type Members struct {
	offlineAfter time.Duration
	forgetAfter  time.Duration
	now          func() time.Time

	mu sync.RWMutex
	m  map[string]*Member // role/id
}

// NewMembers returns an empty table: a member silent for offlineAfter is
// offline, and forgotten after forgetAfter.
func NewMembers(offlineAfter, forgetAfter time.Duration, now func() time.Time) *Members {
	if now == nil {
		now = time.Now
	}
	return &Members{offlineAfter: offlineAfter, forgetAfter: forgetAfter, now: now, m: map[string]*Member{}}
}

// Observe records a heartbeat received now.
func (ms *Members) Observe(hb Heartbeat) {
	if hb.Role == "" || !ValidID(hb.ID) {
		return
	}
	now := ms.now()
	ms.mu.Lock()
	ms.m[hb.Role+"/"+hb.ID] = &Member{Heartbeat: hb, LastSeen: now}
	ms.mu.Unlock()
}

func (ms *Members) state(m *Member, now time.Time) string {
	switch {
	case now.Sub(m.LastSeen) > ms.offlineAfter:
		return StateOffline
	case m.Stopping:
		return StateStopping
	}
	return StateHealthy
}

// List returns the members of role ("" = all) that are not forgotten,
// sorted by id, with their state now.
func (ms *Members) List(role string) []Member {
	now := ms.now()
	ms.mu.Lock()
	out := make([]Member, 0, len(ms.m))
	for k, m := range ms.m {
		if now.Sub(m.LastSeen) > ms.forgetAfter {
			delete(ms.m, k)
			continue
		}
		if role != "" && m.Role != role {
			continue
		}
		c := *m
		c.State = ms.state(m, now)
		c.Age = now.Sub(m.LastSeen)
		out = append(out, c)
	}
	ms.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int {
		if c := strings.Compare(a.Role, b.Role); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Healthy reports whether member role/id is healthy now.
func (ms *Members) Healthy(role, id string) bool {
	now := ms.now()
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	m := ms.m[role+"/"+id]
	return m != nil && ms.state(m, now) == StateHealthy
}

// Count returns how many members of role are healthy.
func (ms *Members) Count(role string) int {
	now := ms.now()
	n := 0
	ms.mu.RLock()
	for _, m := range ms.m {
		if m.Role == role && ms.state(m, now) == StateHealthy {
			n++
		}
	}
	ms.mu.RUnlock()
	return n
}

// Watched reports whether a healthy controller serves watchers.
func (ms *Members) Watched() bool {
	now := ms.now()
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	for _, m := range ms.m {
		if m.Role == RoleController && m.Watchers > 0 && ms.state(m, now) == StateHealthy {
			return true
		}
	}
	return false
}

// NodeConfig configures a member's heartbeats.
type NodeConfig struct {
	Role    string
	ID      string
	Version string
	// Interval is the time between heartbeats; OfflineAfter the silence
	// after which a member is offline; ForgetAfter the silence after which
	// it leaves the table.
	Interval     time.Duration
	OfflineAfter time.Duration
	ForgetAfter  time.Duration
	Log          *slog.Logger
}

// DefaultNodeConfig has OpenWhisk's invoker health timing: a ping every
// second, offline after 10 s of silence.
func DefaultNodeConfig(role, id string) NodeConfig {
	return NodeConfig{Role: role, ID: id, Interval: time.Second, OfflineAfter: 10 * time.Second, ForgetAfter: time.Hour}
}

// Node is one member of the cluster: it heartbeats and keeps the table.
type Node struct {
	cfg     NodeConfig
	bus     Bus
	members *Members
	fill    func(*Heartbeat)
	started time.Time
	log     *slog.Logger

	sub     bus.Subscription
	status  bus.Subscription
	leaving atomic.Bool
	beat    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// StartNode joins the cluster: it listens to heartbeats and sends its own
// every Interval, the first at once. fill adds the role's figures to each.
func StartNode(cfg NodeConfig, b Bus, fill func(*Heartbeat)) (*Node, error) {
	d := DefaultNodeConfig(cfg.Role, cfg.ID)
	if cfg.Interval <= 0 {
		cfg.Interval = d.Interval
	}
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = d.OfflineAfter
	}
	if cfg.ForgetAfter <= 0 {
		cfg.ForgetAfter = d.ForgetAfter
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	n := &Node{
		cfg: cfg, bus: b, fill: fill, started: time.Now().UTC(),
		members: NewMembers(cfg.OfflineAfter, cfg.ForgetAfter, nil),
		log:     cfg.Log.With("component", "cluster", "member", cfg.Role+"/"+cfg.ID),
		beat:    make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
	}
	sub, err := b.Listen(subjectHeartbeat, func(data []byte) []byte {
		var hb Heartbeat
		if err := json.Unmarshal(data, &hb); err == nil {
			n.members.Observe(hb)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	status, err := b.Listen(subjectStatus, func([]byte) []byte {
		data, _ := json.Marshal(n.members.List(""))
		return data
	})
	if err != nil {
		sub.Stop()
		return nil, err
	}
	n.sub, n.status = sub, status
	// The member's own heartbeat counts at once, whatever the bus does.
	n.members.Observe(n.heartbeat())
	go n.loop()
	return n, nil
}

// Members is the table of the cluster as this member sees it.
func (n *Node) Members() *Members { return n.members }

// ID is the member's id.
func (n *Node) ID() string { return n.cfg.ID }

// Beat sends a heartbeat now, out of turn (the figures changed in a way
// others should know at once).
func (n *Node) Beat() {
	select {
	case n.beat <- struct{}{}:
	default:
	}
}

func (n *Node) heartbeat() Heartbeat {
	hb := Heartbeat{Role: n.cfg.Role, ID: n.cfg.ID, Version: n.cfg.Version, StartedAt: n.started, Stopping: n.leaving.Load()}
	if n.fill != nil {
		n.fill(&hb)
	}
	return hb
}

func (n *Node) loop() {
	defer close(n.done)
	t := time.NewTicker(n.cfg.Interval)
	defer t.Stop()
	for {
		data, _ := json.Marshal(n.heartbeat())
		if err := n.bus.Cast(subjectHeartbeat, data); err != nil {
			n.log.Debug("heartbeat not sent", "err", err)
		}
		select {
		case <-n.quit:
			return
		case <-t.C:
		case <-n.beat:
		}
	}
}

// Leave tells the cluster, at once and in every heartbeat until Stop, that
// this member is stopping: nothing new is placed on it.
func (n *Node) Leave() {
	n.leaving.Store(true)
	n.Beat()
}

// Stop ends the heartbeats and stops listening; the others see the member
// offline after OfflineAfter (at once if it left first).
func (n *Node) Stop() {
	n.once.Do(func() {
		close(n.quit)
		<-n.done
		n.sub.Stop()
		n.status.Stop()
	})
}

// Status returns the cluster's table: the tables of every member that
// answers within wait, merged (each member as last seen by anyone). When
// none answers, it listens to the heartbeats for wait and builds the table
// itself (members offline then do not appear).
func Status(ctx context.Context, b Bus, wait time.Duration) ([]Member, error) {
	answers, err := b.Gather(ctx, subjectStatus, nil, 1024, wait)
	if err != nil {
		return nil, err
	}
	if len(answers) > 0 {
		merged := map[string]Member{}
		for _, a := range answers {
			var ms []Member
			if err := json.Unmarshal(a, &ms); err != nil {
				return nil, fmt.Errorf("cluster: unreadable status: %w", err)
			}
			for _, m := range ms {
				k := m.Role + "/" + m.ID
				if old, ok := merged[k]; !ok || m.Age < old.Age {
					merged[k] = m
				}
			}
		}
		out := make([]Member, 0, len(merged))
		for _, m := range merged {
			out = append(out, m)
		}
		slices.SortFunc(out, func(a, b Member) int {
			if c := strings.Compare(a.Role, b.Role); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		return out, nil
	}
	table := NewMembers(DefaultNodeConfig("", "").OfflineAfter, time.Hour, nil)
	sub, err := b.Listen(subjectHeartbeat, func(data []byte) []byte {
		var hb Heartbeat
		if json.Unmarshal(data, &hb) == nil {
			table.Observe(hb)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(wait):
	}
	sub.Stop()
	return table.List(""), nil
}
