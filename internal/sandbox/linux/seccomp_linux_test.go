package linux

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// runBPF interprets the subset of classic BPF the filter uses over a
// struct seccomp_data, as the kernel would.
func runBPF(t *testing.T, prog []unix.SockFilter, data []byte) uint32 {
	t.Helper()
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			a = binary.NativeEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += int(pick(a == in.K, in.Jt, in.Jf))
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += int(pick(a >= in.K, in.Jt, in.Jf))
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			pc += int(pick(a&in.K != 0, in.Jt, in.Jf))
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: unexpected code %#x", pc, in.Code)
		}
	}
	t.Fatal("the program fell off its end")
	return 0
}

func pick(c bool, a, b uint8) uint8 {
	if c {
		return a
	}
	return b
}

func seccompData(arch uint32, nr uintptr, arg0 uint64) []byte {
	b := make([]byte, 64)
	binary.NativeEndian.PutUint32(b[0:], uint32(nr))
	binary.NativeEndian.PutUint32(b[4:], arch)
	binary.NativeEndian.PutUint64(b[16:], arg0)
	return b
}

func TestSeccompFilter(t *testing.T) {
	prog := seccompFilter()
	if prog == nil {
		t.Skip("no system call table for this architecture")
	}
	if len(prog) > 4096 {
		t.Fatalf("%d instructions: the kernel takes 4096", len(prog))
	}
	eperm, enosys := retErrno(unix.EPERM), retErrno(unix.ENOSYS)
	cases := []struct {
		name string
		arch uint32
		nr   uintptr
		arg0 uint64
		want uint32
	}{
		{"read", auditArch, unix.SYS_READ, 0, retAllow},
		{"execve", auditArch, unix.SYS_EXECVE, 0, retAllow},
		{"mount", auditArch, unix.SYS_MOUNT, 0, eperm},
		{"unshare", auditArch, unix.SYS_UNSHARE, 0, eperm},
		{"ptrace", auditArch, unix.SYS_PTRACE, 0, eperm},
		{"keyctl", auditArch, unix.SYS_KEYCTL, 0, eperm},
		{"bpf", auditArch, unix.SYS_BPF, 0, eperm},
		{"clone thread", auditArch, unix.SYS_CLONE, unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND, retAllow},
		{"clone user namespace", auditArch, unix.SYS_CLONE, unix.CLONE_NEWUSER | uint64(unix.SIGCHLD), eperm},
		{"clone network namespace", auditArch, unix.SYS_CLONE, unix.CLONE_NEWNET, eperm},
		{"clone3", auditArch, unix.SYS_CLONE3, 0, enosys},
		{"io_uring_setup", auditArch, unix.SYS_IO_URING_SETUP, 0, enosys},
		{"another architecture", auditArch ^ 1, unix.SYS_READ, 0, retKill},
	}
	if x32Bit != 0 {
		cases = append(cases, struct {
			name string
			arch uint32
			nr   uintptr
			arg0 uint64
			want uint32
		}{"x32", auditArch, x32Bit | unix.SYS_READ, 0, enosys})
	}
	for _, c := range cases {
		if got := runBPF(t, prog, seccompData(c.arch, c.nr, c.arg0)); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
	for _, nr := range deniedSyscalls {
		if got := runBPF(t, prog, seccompData(auditArch, nr, 0)); got != eperm {
			t.Errorf("system call %d: %#x, want EPERM", nr, got)
		}
	}
}
