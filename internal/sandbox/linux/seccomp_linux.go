package linux

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The filter denies system calls that a function has no business making and
// that widen the kernel surface it can reach: changing mounts or namespaces
// (user namespaces above all: they hand an unprivileged process the
// capabilities our privilege drop took away), tracing other processes,
// loading kernel code, keyrings (shared by every sandbox: one uid), BPF,
// perf, userfaultfd, io_uring, clock and host settings, reboot. Most already
// fail for want of a capability; the filter keeps them failing should a
// kernel bug hand one back. Everything else is allowed, so every runtime and
// whatever it spawns works unchanged: this is a deny list, not a profile.

// nsCloneFlags are the clone flags that make namespaces.
const nsCloneFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME

// Offsets in struct seccomp_data: nr, arch, instruction pointer, args[6].
const (
	offNr    = 0
	offArch  = 4
	offArg0  = 16 // low 32 bits on little-endian machines, where all clone flags are
	retAllow = unix.SECCOMP_RET_ALLOW
	retKill  = unix.SECCOMP_RET_KILL_PROCESS
)

func retErrno(errno unix.Errno) uint32 {
	return unix.SECCOMP_RET_ERRNO | uint32(errno)&unix.SECCOMP_RET_DATA
}

// bpfInsn is an instruction whose jumps name labels, resolved by assemble.
type bpfInsn struct {
	code   uint16
	k      uint32
	jt, jf string // labels; "" falls through
	label  string // this instruction's label
}

// seccompFilter returns the filter for this architecture, nil where the
// driver has no system call table (the sandbox then runs without one).
func seccompFilter() []unix.SockFilter {
	if auditArch == 0 {
		return nil
	}
	const (
		ld   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
	)
	p := []bpfInsn{
		// A system call of another ABI (i386 through int 0x80 on x86-64)
		// has other numbers: nothing below would mean what it says.
		{code: ld, k: offArch},
		{code: jeq, k: auditArch, jf: "kill"},
		{code: ld, k: offNr},
	}
	if x32Bit != 0 {
		p = append(p, bpfInsn{code: jge, k: x32Bit, jt: "enosys"})
	}
	for _, nr := range deniedSyscalls {
		p = append(p, bpfInsn{code: jeq, k: uint32(nr), jt: "eperm"})
	}
	// ENOSYS rather than EPERM makes libc and libuv fall back: glibc from
	// clone3 to clone (whose flags the filter can read), libuv from
	// io_uring to its thread pool.
	for _, nr := range []uintptr{unix.SYS_CLONE3, unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER} {
		p = append(p, bpfInsn{code: jeq, k: uint32(nr), jt: "enosys"})
	}
	p = append(p,
		bpfInsn{code: jeq, k: uint32(unix.SYS_CLONE), jf: "allow"},
		bpfInsn{code: ld, k: offArg0},
		bpfInsn{code: jset, k: nsCloneFlags, jt: "eperm"},
		bpfInsn{code: ret, k: retAllow, label: "allow"},
		bpfInsn{code: ret, k: retErrno(unix.EPERM), label: "eperm"},
		bpfInsn{code: ret, k: retErrno(unix.ENOSYS), label: "enosys"},
		bpfInsn{code: ret, k: retKill, label: "kill"},
	)
	return assemble(p)
}

// assemble resolves labels into the relative jump offsets of classic BPF.
func assemble(p []bpfInsn) []unix.SockFilter {
	at := map[string]int{}
	for i, in := range p {
		if in.label != "" {
			at[in.label] = i
		}
	}
	jump := func(i int, label string) uint8 {
		if label == "" {
			return 0
		}
		off := at[label] - i - 1
		if off < 0 || off > 255 {
			panic("seccomp: jump out of range to " + label)
		}
		return uint8(off)
	}
	out := make([]unix.SockFilter, len(p))
	for i, in := range p {
		out[i] = unix.SockFilter{Code: in.code, K: in.k, Jt: jump(i, in.jt), Jf: jump(i, in.jf)}
	}
	return out
}

// installSeccomp loads filter for the calling thread, the one that goes on
// to execute the runtime. It needs no_new_privs set first.
func installSeccomp(filter []unix.SockFilter) error {
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	return unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&prog)), 0, 0)
}
