// Package linux is the sandbox driver that confines a runtime with Linux
// namespaces, cgroups, a private read-only root, an unprivileged identity and
// a seccomp filter. It needs root; where it cannot work, Available says why
// and the server falls back to the process driver.
//
// A sandbox is started by re-executing the current binary in an "init" role
// inside fresh PID, mount, IPC, UTS and (unless Network is "host") network
// namespaces. The init reads its instructions from a pipe, builds the root,
// drops every privilege and executes the runtime in its own place, so the
// runtime is PID 1 of its namespace and nothing of Gust stays resident in the
// sandbox. When PID 1 dies the kernel kills everything else in the namespace,
// which is what makes Destroy reach daemons the function left behind.
//
// The init role is taken in this package's init function, before the rest of
// a large binary initializes: every binary that imports this package can serve
// as its own sandbox init (tests included) without any code in main.
//
// What a sandbox gets:
//   - its own PID, mount, IPC and UTS namespaces (host name: the sandbox ID),
//     and its own network namespace unless the network is "host";
//   - a root of its own, read-only: binds of Spec.ReadOnlyPaths (symlinks on
//     the way recreated), the code directory Spec.Dir read-only at its own
//     path, so that paths into it in Argv and Env hold (shown as the sandbox
//     user's through an idmapped mount, since the code cache is root's), and
//     it is the working directory — or, without Spec.Dir, a private writable
//     /code is; a size-limited /tmp and
//     /dev/shm, its own /proc with host-revealing files masked and /proc/sys
//     read-only, a /dev of null, zero, full, random and urandom, and an /etc
//     of passwd, group, hosts and hostname (and the host's resolv.conf when
//     it has a network); never WorkRoot, Config.Hidden or the rest of the
//     host;
//   - an unprivileged identity (Config.UID/GID, no supplementary groups),
//     no capabilities in any set, no_new_privs, and a seccomp filter that
//     refuses mounts, namespaces, tracing, kernel modules, keyrings, BPF,
//     perf, io_uring and host settings (amd64 and arm64);
//   - a cgroup (v1 or v2) with a memory limit and no swap, CPU shares in
//     proportion to memory, a process limit, the freezer for Pause, and an
//     OOM kill reported as Reply.OOM from the kernel's own notification;
//   - limits on open files and no core dumps.
//
// Not enforced (yet): a CPU quota (shares only, as OpenWhisk), disk I/O, a
// distinct uid per sandbox (per-user kernel limits such as inotify
// instances are shared among sandboxes), IPv6 egress (egress is IPv4 only;
// IPv6 is off in egress sandboxes), and seccomp on architectures other than
// amd64 and arm64.
package linux

import "errors"

// Config configures the driver. Zero values take the defaults of DefaultConfig.
type Config struct {
	// WorkRoot is a directory the driver owns (created if missing). It holds
	// the mount point of sandbox roots and is never visible inside a sandbox.
	WorkRoot string
	// Hidden lists host directories that must never appear in a sandbox, such
	// as Gust's data directory; WorkRoot is always hidden. A ReadOnlyPaths
	// entry inside or above one of them fails Start, unless Exposed allows it.
	// Spec.Dir may be inside one (the code cache usually is).
	Hidden []string
	// Exposed lists directories, usually inside hidden ones, whose entries —
	// never the directory itself — read-only paths may name: the invoker's
	// code cache, where each action has a directory of its own, and the
	// runtimes' cache of launchers. A sandbox so gets its own action's code
	// and never the whole cache.
	Exposed []string
	// CgroupParent is the cgroup, relative to the root of each hierarchy,
	// under which each sandbox gets its own cgroup (default "gust").
	CgroupParent string
	// UID and GID are the identity functions run as (default 65534, nobody).
	// Root is not offered: 0 means the default.
	UID, GID int
	// TmpSizeMB bounds the private writable /tmp (and /dev/shm, and the
	// writable working directory of sandboxes started without Spec.Dir).
	TmpSizeMB int
	// DefaultPids is the process and thread limit when Spec.Pids is 0.
	DefaultPids int
	// DefaultFiles is the open-file limit when Spec.Files is 0.
	DefaultFiles int
	// Network is the policy used when Spec.Network is empty.
	Network string
	// EgressCIDR is the IPv4 range from which "egress" sandboxes get their
	// addresses, a /30 each (default 10.200.0.0/16). It must not overlap
	// the host's networks.
	EgressCIDR string
	// Prestart is how many sandbox inits per kind of network (own network
	// namespace or the host's) are kept started ahead of demand, with their
	// namespaces, cgroup and the base of their root made, so that Start only
	// finishes the root and executes the runtime. Negative turns it off.
	Prestart int
}

// DefaultConfig returns the defaults: nobody's identity, a 64 MB /tmp,
// 64 processes (node alone runs about a dozen threads), OpenWhisk's 1024 open
// files and no network.
func DefaultConfig() Config {
	return Config{
		CgroupParent: "gust",
		UID:          65534,
		GID:          65534,
		TmpSizeMB:    64,
		DefaultPids:  64,
		DefaultFiles: 1024,
		Network:      NetworkNone,
		EgressCIDR:   "10.200.0.0/16",
		Prestart:     2,
	}
}

// Network policies (sandbox.Spec.Network).
const (
	NetworkNone   = "none"   // a network namespace with only loopback
	NetworkEgress = "egress" // outgoing connections through NAT, nothing on the host or other sandboxes
	NetworkHost   = "host"   // the host's network: trusted operators only
)

// ErrUnsupported is returned on systems without Linux namespaces.
var ErrUnsupported = errors.New("the linux sandbox driver needs Linux")
