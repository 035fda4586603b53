package linux

import (
	"fmt"
	"os"
	"sync"
)

// pool keeps inits started ahead of demand. Making the namespaces (above all
// a network namespace) and starting the init's Go runtime are most of what a
// sandbox costs before its runtime runs; none of it depends on the Spec, so
// it is done in the background and Start only builds the root and executes.
//
// A pooled init waits in a cgroup of its own, named pool-…, which becomes
// its sandbox's (renamed and limited) when it is taken: moving a process
// between cgroups costs an RCU grace period, and that too is paid ahead. It
// holds little memory: the init's Go runtime and the base of its root. It
// dies with Gust (parent-death signal) and is killed by Close.
type pool struct {
	d    *Driver
	size int

	mu      sync.Mutex
	ready   map[bool][]*started // by "has a network namespace"
	filling map[bool]bool
	closed  bool
	seq     int
	wg      sync.WaitGroup
}

func newPool(d *Driver, size int) *pool {
	return &pool{d: d, size: size, ready: map[bool][]*started{}, filling: map[bool]bool{}}
}

// take returns a started init for network, from the pool if one is ready;
// an init started on the spot gets a cgroup named cgName. The caller calls
// refill once its sandbox runs: starting the next init meanwhile would
// compete with this one for the CPU.
func (p *pool) take(network, cgName string) (st *started, fromPool bool, err error) {
	netns := network != NetworkHost
	p.mu.Lock()
	if list := p.ready[netns]; len(list) > 0 {
		// The oldest: the likeliest to have finished its base.
		st = list[0]
		p.ready[netns] = list[1:]
	}
	p.mu.Unlock()
	if st != nil {
		return st, true, nil
	}
	st, err = p.d.startInit(network, cgName)
	return st, false, err
}

// refill has the pool for network's kind filled up in the background. The
// pool for a kind of network is only filled once a sandbox of that kind was
// asked for.
func (p *pool) refill(network string) {
	p.mu.Lock()
	p.refillLocked(network != NetworkHost)
	p.mu.Unlock()
}

func (p *pool) refillLocked(netns bool) {
	if p.size == 0 || p.closed || p.filling[netns] || len(p.ready[netns]) >= p.size {
		return
	}
	p.filling[netns] = true
	p.wg.Add(1)
	go p.fill(netns)
}

func (p *pool) fill(netns bool) {
	defer p.wg.Done()
	network := NetworkHost
	if netns {
		network = NetworkNone
	}
	for {
		p.mu.Lock()
		if p.closed || len(p.ready[netns]) >= p.size {
			p.filling[netns] = false
			p.mu.Unlock()
			return
		}
		p.seq++
		name := fmt.Sprintf("pool-%d-%d", os.Getpid(), p.seq)
		p.mu.Unlock()
		st, err := p.d.startInit(network, name)
		p.mu.Lock()
		if err != nil || p.closed {
			// Start reports the error when it starts one itself.
			p.filling[netns] = false
			p.mu.Unlock()
			if st != nil {
				st.abandon()
			}
			return
		}
		p.ready[netns] = append(p.ready[netns], st)
		p.mu.Unlock()
	}
}

// close kills every pooled init and waits for the fillers to stop.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	var all []*started
	for k, list := range p.ready {
		all = append(all, list...)
		delete(p.ready, k)
	}
	p.mu.Unlock()
	p.wg.Wait()
	for _, st := range all {
		st.abandon()
	}
}
