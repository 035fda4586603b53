// Package runtimes is the seam that knows each action kind: how its code is
// readied (unzipped, compiled), how its process is started, and whether a
// process can be started ahead of demand and given its code later (a stem cell).
//
// Every Gust runtime speaks the action loop (spec §12.2) through sandbox.Conn:
// one JSON request line on stdin, one JSON reply line on fd 3, logs on
// stdout/stderr ended by sandbox.Sentinel on both after every request.
//
// Stem-cell runtimes (nodejs, python) are started with no code; their first
// request is the init line — OpenWhisk's /init body,
// {"value":{"name","main","code","binary","env"}} — answered with {"ok":true}
// or {"error":"..."}. Other runtimes (go, native) are started with their code
// and their init environment; when Command.WaitAck is set they answer
// {"ok":true} on fd 3 before the first request.
package runtimes

import (
	"context"

	"github.com/gustfaas/gust/internal/whisk"
)

// Command is how to start a runtime process.
type Command struct {
	Argv          []string // Argv[0] absolute: never a shim found on PATH
	Env           []string // KEY=VALUE, the whole environment
	Dir           string   // working directory; "" = the driver's private directory
	ReadOnlyPaths []string // host paths the process needs to read (interpreter, libraries)
	WaitAck       bool     // the process writes {"ok":true} on fd 3 once ready
	NoSentinels   bool     // the process prints no sentinels: set sandbox.Spec.NoSentinels
}

// Runtime is one action kind.
type Runtime interface {
	Kind() string   // "nodejs:20"
	Family() string // "nodejs"
	Image() string  // the OpenWhisk image name shown in GET /
	// StemCell reports whether Start(nil) gives a process that takes its code
	// in an init line.
	StemCell() bool
	// Prepare readies an action's code once per code hash, writing whatever
	// Command needs into dir (an empty directory the caller owns and caches).
	// Errors from the user's code (a compile error) are *whisk.Error with
	// CodeBadRequest and the compiler's message.
	Prepare(ctx context.Context, exec *whisk.Exec, dir string) error
	// Command starts a process: a stem cell when prepared is "", else the action
	// whose prepared code is in that directory, with initEnv in its environment.
	Command(prepared string, initEnv map[string]string) Command
	// InitLine is the first request for a stem-cell runtime.
	InitLine(exec *whisk.Exec, name string, initEnv map[string]string) []byte
	// SupportsConcurrency reports whether one process may run many activations at once.
	SupportsConcurrency() bool
}

// Info describes a runtime for GET /.
type Info struct {
	Kind        string `json:"kind"`
	Image       string `json:"image"`
	Deprecated  bool   `json:"deprecated"`
	Default     bool   `json:"default"`
	Attached    bool   `json:"attached"`
	RequireMain bool   `json:"requireMain"`
}
