package linux

import (
	"errors"
	"os/exec"
	"runtime"
	"sync"
)

// spawner starts processes from one OS thread kept for the driver's life.
// The parent-death signal that makes sandboxes die with Gust is tied to the
// thread that forked them, not to the process: a sandbox forked from a
// thread that later ends — Go ends a thread whose goroutine exits while
// locked to it — would be killed with it. Forking from a thread that only
// ends when the driver closes avoids that whatever the rest of the server
// does with threads.
type spawner struct {
	mu     sync.RWMutex
	closed bool
	reqs   chan func()
}

var errClosed = errors.New("driver closed")

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan func())}
	go func() {
		runtime.LockOSThread()
		// Never unlocked: when close ends the loop the goroutine exits
		// locked and Go ends the thread, once no sandbox needs it.
		for f := range s.reqs {
			f()
		}
	}()
	return s
}

// start runs cmd.Start on the spawner's thread.
func (s *spawner) start(cmd *exec.Cmd) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	errc := make(chan error, 1)
	s.reqs <- func() { errc <- cmd.Start() }
	return <-errc
}

func (s *spawner) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.reqs)
	}
}
