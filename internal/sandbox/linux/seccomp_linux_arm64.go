package linux

import "golang.org/x/sys/unix"

const auditArch = unix.AUDIT_ARCH_AARCH64

const x32Bit = 0 // arm64 has a single system call ABI

var deniedSyscalls = commonDenied
