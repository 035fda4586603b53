//go:build !amd64 && !arm64

package linux

// No system call table for this architecture: sandboxes run without a
// seccomp filter (namespaces, the privilege drop and cgroups still apply).
const (
	auditArch = 0
	x32Bit    = 0
)

var deniedSyscalls []uintptr
