package linux

import "golang.org/x/sys/unix"

const auditArch = unix.AUDIT_ARCH_X86_64

// x32Bit marks x32 system calls, a second ABI on x86-64 that the filter
// refuses as a whole rather than listing its numbers too.
const x32Bit = 0x40000000

var deniedSyscalls = append(commonDenied,
	unix.SYS_IOPL, unix.SYS_IOPERM, unix.SYS_USELIB, unix.SYS__SYSCTL,
	unix.SYS_CREATE_MODULE, unix.SYS_GET_KERNEL_SYMS, unix.SYS_QUERY_MODULE)
