package linux

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// roleEnv marks a process started by the driver in one of its roles. The
// parent clears the whole environment, so it can only be set on purpose.
const roleEnv = "_GUST_SANDBOX_ROLE"

const (
	roleInit = "init" // build the sandbox, then become the runtime
	roleHold = "hold" // keep a user namespace alive until stdin closes
)

// File descriptors of the init, fixed by the order of exec.Cmd.ExtraFiles.
const (
	fdReply  = 3 // the runtime's reply pipe, passed through untouched
	fdConfig = 4 // initConfig as JSON, then EOF
	fdStatus = 5 // close-on-exec: EOF means the runtime was executed, text is an error
	fdUserns = 6 // the user namespace for idmapped binds, if any
)

// The init reads two JSON values from fdConfig, rather than taking them in
// its environment (the runtime's environment can be large). The first comes
// as soon as it starts: with it the init builds what every sandbox has, even
// while it waits in the prestart pool. The second comes once it has a Spec
// and a cgroup, and holds the rest.
type baseConfig struct {
	Root     string    `json:"root"` // host directory on which the new root is assembled
	Ops      []mountOp `json:"ops"`
	Loopback bool      `json:"loopback"` // bring up lo: the network namespace is new
}

type initConfig struct {
	Argv     []string   `json:"argv"`
	Env      []string   `json:"env"`
	Ops      []mountOp  `json:"ops"`
	Hostname string     `json:"hostname"`
	Dir      string     `json:"dir"` // working directory, inside the sandbox
	UID      int        `json:"uid"`
	GID      int        `json:"gid"`
	Files    int        `json:"files"`
	Userns   bool       `json:"userns"`        // fdUserns is open
	Eth      *ethConfig `json:"eth,omitempty"` // egress: configure eth0
	CapLast  int        `json:"capLast"`
	Seccomp  bool       `json:"seccomp"`
}

func init() {
	// In the init role the work is done here, before the packages of the
	// rest of the binary initialize: their start-up is not the sandbox's
	// business and would add to every sandbox's start. Package
	// initialization runs on the main thread, locked to it, which is what
	// the per-thread credential, namespace and seccomp calls below need.
	MaybeRunInit()
}

// MaybeRunInit takes the driver's role when the process was started as a
// sandbox init, and never returns then; otherwise it returns at once. This
// package calls it from its init function, so a binary needs no code of its
// own for it; calling it first thing in main as well is harmless.
func MaybeRunInit() {
	switch os.Getenv(roleEnv) {
	case roleInit:
		runtime.LockOSThread()
		status := os.NewFile(fdStatus, "status")
		defer func() {
			// Silence on the status pipe means the runtime was executed:
			// a panic must not pass for that.
			if r := recover(); r != nil {
				fmt.Fprintf(status, "sandbox init: panic: %v", r)
				os.Exit(127)
			}
		}()
		err := runInit()
		// Only failures return: report, and exit with what a shell
		// reports for a command it could not run.
		io.WriteString(status, err.Error())
		os.Exit(127)
	case roleHold:
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
}

func runInit() error {
	cfgFile := os.NewFile(fdConfig, "config")
	dec := json.NewDecoder(cfgFile)
	var base baseConfig
	if err := dec.Decode(&base); err != nil {
		return fmt.Errorf("sandbox init: reading its configuration: %w", err)
	}
	if base.Loopback {
		if err := loopbackUp(); err != nil {
			return fmt.Errorf("sandbox init: %w", err)
		}
	}
	if err := buildBase(base.Root, base.Ops); err != nil {
		return fmt.Errorf("sandbox init: building the root: %w", err)
	}
	var cfg initConfig
	err := dec.Decode(&cfg)
	cfgFile.Close()
	if err != nil {
		return fmt.Errorf("sandbox init: reading its configuration: %w", err)
	}
	if cfg.Eth != nil {
		// The sandbox's end of its veth pair; IPv6 stays off, as on the
		// host's end, so that only the IPv4 rules apply.
		for _, c := range []string{"all", "default", "eth0"} {
			writeFile("/proc/sys/net/ipv6/conf/"+c+"/disable_ipv6", "1")
		}
		if err := linkUp("eth0", cfg.Eth.Addr, cfg.Eth.Prefix, cfg.Eth.Gateway); err != nil {
			return fmt.Errorf("sandbox init: network: %w", err)
		}
	}
	userns := -1
	if cfg.Userns {
		userns = fdUserns
	}
	if err := finishRoot(base.Root, cfg.Ops, userns); err != nil {
		return fmt.Errorf("sandbox init: building the root: %w", err)
	}
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return fmt.Errorf("sandbox init: hostname: %w", err)
	}
	if err := os.Chdir(cfg.Dir); err != nil {
		return fmt.Errorf("sandbox init: %w", err)
	}
	// syscall's Setrlimit, not unix's: it also stops Go from restoring, at
	// exec, the soft limit it found at start-up.
	files := uint64(cfg.Files)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: files, Max: files}); err != nil {
		return fmt.Errorf("sandbox init: open file limit: %w", err)
	}
	// A crashing function must not make the host write or pipe a core dump.
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
	unix.Umask(0o022)
	// Only stdin, stdout, stderr and the reply pipe reach the runtime. The
	// status pipe goes too, and its closing tells the parent exec worked.
	if err := unix.CloseRange(fdConfig, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		if err := cloexecFrom(fdConfig); err != nil {
			return fmt.Errorf("sandbox init: %w", err)
		}
	}
	if err := dropPrivileges(cfg.UID, cfg.GID, cfg.CapLast); err != nil {
		return fmt.Errorf("sandbox init: %w", err)
	}
	if cfg.Seccomp {
		if filter := seccompFilter(); filter != nil {
			if err := installSeccomp(filter); err != nil {
				return fmt.Errorf("sandbox init: seccomp: %w", err)
			}
		}
	}
	err = unix.Exec(cfg.Argv[0], cfg.Argv, cfg.Env)
	return fmt.Errorf("exec %s: %w", cfg.Argv[0], err)
}

// dropPrivileges leaves the calling thread — the one that executes the
// runtime, and the only one left after exec — with the sandbox's identity
// and no way back: no capabilities in any set, no supplementary groups,
// no_new_privs. The raw system calls act on this thread only, which is all
// that survives exec; Go's wrappers would also change threads that exec
// is about to end.
func dropPrivileges(uid, gid, capLast int) error {
	for c := 0; c <= capLast; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	// The bounding set does not limit inheritable capabilities a file could
	// claim at exec: clear them while CAP_SETPCAP is still ours.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return fmt.Errorf("setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setresgid: %w", e)
	}
	// From root to a non-root uid without keep-caps: the kernel clears the
	// permitted and effective sets.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid: %w", e)
	}
	// Changing credentials cleared the parent-death signal set at clone.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent death signal: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	if data[0] != (unix.CapUserData{}) || data[1] != (unix.CapUserData{}) {
		return fmt.Errorf("capabilities left after the identity change: %+v", data)
	}
	return nil
}

// cloexecFrom marks every descriptor from first on close-on-exec, for
// kernels before close_range's CLOEXEC flag (5.11).
func cloexecFrom(first int) error {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	for _, e := range entries {
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err == nil && fd >= first {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
	return nil
}

// loopbackUp brings up lo in a new network namespace: without it even
// 127.0.0.1 is unreachable and runtimes that talk to themselves fail.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	return nil
}

// hostname turns a sandbox ID into a valid host name.
func hostname(id string) string {
	h := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '-'
	}, id)
	h = strings.Trim(h, "-")
	if len(h) > 63 {
		h = h[:63]
	}
	if h == "" {
		h = "sandbox"
	}
	return h
}
