// Package sandbox is the seam between the invoker and the mechanism that
// confines a runtime process. A driver starts a confined process with four
// pipes — stdin (requests), fd 3 (one reply line per request), stdout and
// stderr (logs) — and this package's Conn speaks the action loop over them, so
// that every driver shares one implementation of the protocol.
//
// Contract (checked by sandbox/sandboxtest):
//   - Start returns a running sandbox or an error; a failed Start leaves nothing
//     behind (no process, no directory, no cgroup).
//   - Call never returns an error for something the function did: a crash, a
//     timeout, garbage on fd 3 or an out-of-memory kill are reported in Reply.
//     An error means the platform failed.
//   - After a timeout or an exit the sandbox is dead: later Calls report Exited.
//   - Destroy kills every process the sandbox started, releases its resources,
//     may be called more than once and concurrently with Call.
package sandbox

import (
	"context"
	"time"
)

// Spec describes the process to start.
type Spec struct {
	ID       string   // unique, used for names of directories and cgroups
	Argv     []string // Argv[0] is an absolute path
	Env      []string // the whole environment; nothing is inherited
	Dir      string   // working directory (the action's code directory, read-only to the function where the driver can enforce it)
	MemoryMB int      // memory limit
	Pids     int      // process limit (0 = driver default)
	Files    int      // open file limit (0 = driver default)
	// ReadOnlyPaths lists host paths the runtime needs (interpreters and their
	// libraries); drivers that build a private root mount exactly these.
	ReadOnlyPaths []string
	Network       string // "none", "egress" or "host"; drivers without network control ignore it
	// Concurrent means replies carry the request's id (see Conn) so that many
	// calls may be in flight at once.
	Concurrent bool
	// NoSentinels marks a process that does not print sentinels (a native
	// executable written for OpenWhisk's action loop): the driver keeps the
	// write ends of its stdout and stderr so that Conn writes them after each
	// reply, as OpenWhisk's proxy does (ConnConfig.SentinelStdout).
	NoSentinels bool
}

// Capabilities describe what a driver enforces, for start-up messages and tests.
type Capabilities struct {
	Namespaces bool // PID, mount, IPC, UTS, network isolation
	Cgroups    bool // memory limit enforced and OOM detected
	Pause      bool // implements Pauser
}

// Driver creates sandboxes.
type Driver interface {
	Name() string
	Capabilities() Capabilities
	Start(ctx context.Context, spec Spec) (Sandbox, error)
	// Close destroys every sandbox the driver still holds.
	Close() error
}

// Sandbox is one running runtime process.
type Sandbox interface {
	ID() string
	// Call sends one request line (without its newline) and waits for the reply,
	// the logs the request produced and the end sentinels, until ctx ends. When
	// ctx ends first the sandbox is killed and Reply.TimedOut is set.
	Call(ctx context.Context, line []byte, logLimit int) (Reply, error)
	// Destroy kills the sandbox and frees its resources.
	Destroy() error
	// Exited is closed when the runtime process has exited.
	Exited() <-chan struct{}
}

// Pauser is implemented by sandboxes that can be frozen while idle.
type Pauser interface {
	Pause() error
	Resume() error
}

// Reply is what a Call observed.
type Reply struct {
	Line      []byte    // the reply line on fd 3, nil if none came
	Logs      []LogLine // stdout and stderr lines in arrival order, sentinels removed
	Truncated bool      // logs exceeded logLimit and were cut
	TimedOut  bool
	Exited    bool // the process exited before replying
	OOM       bool // the process was killed for exceeding its memory limit
	Elapsed   time.Duration
}

// LogLine is one line of output.
type LogLine struct {
	Time   time.Time
	Stream string // "stdout" or "stderr"
	Text   string
}

// Sentinel ends each activation's output on both stdout and stderr.
const Sentinel = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
