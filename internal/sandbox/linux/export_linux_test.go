package linux

import "time"

// HostPID is the host's pid of the sandbox's PID 1.
func (s *Sandbox) HostPID() int { return s.pid }

// CgroupDirs are the sandbox's cgroup directories.
func (s *Sandbox) CgroupDirs() map[string]string { return s.cg.dirs }

// ReadOnlyPlan exposes the planner to tests.
func ReadOnlyPlan(paths, hidden, exposed []string) ([]string, error) {
	ops, err := planReadOnly(paths, hidden, exposed)
	var out []string
	for _, op := range ops {
		s := op.Target
		switch op.Kind {
		case opSymlink:
			s += " -> " + op.Source
		case opBind:
			if op.Idmap {
				s += " (idmap)"
			}
		}
		out = append(out, s)
	}
	return out, err
}

// WaitPrestarted waits until the prestart pool is not filling: a suite that
// counts descriptors then sees the pool's steady state.
func (d *Driver) WaitPrestarted() {
	for {
		d.pool.mu.Lock()
		busy := d.pool.filling[true] || d.pool.filling[false]
		d.pool.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}
