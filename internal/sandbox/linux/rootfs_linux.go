package linux

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// opKind is one step of building a sandbox's root.
type opKind uint8

const (
	opSymlink  opKind = iota // Target is a symlink to Source
	opBind                   // read-only bind of host Source (a directory, or a file if File)
	opDevice                 // read-write bind of a host device node
	opTmpfs                  // tmpfs with options Data
	opProc                   // proc of the sandbox's PID namespace
	opFile                   // a file holding Data
	opMask                   // hide a /proc file behind /dev/null, if it exists
	opReadOnly               // make a path of the new root read-only (/proc/sys)
)

// mountOp is one step, with Target an absolute path inside the sandbox. The
// parent plans them and the init carries them out, so that the planning
// (stat, readlink, statfs of every path) is done once per set of paths and
// cached rather than repeated in every sandbox.
type mountOp struct {
	Kind   opKind  `json:"k"`
	Target string  `json:"t"`
	Source string  `json:"s,omitempty"`
	Data   string  `json:"d,omitempty"`
	File   bool    `json:"f,omitempty"`
	Idmap  bool    `json:"i,omitempty"` // bind with host root's files shown as the sandbox user's
	Flags  uintptr `json:"x,omitempty"` // extra mount flags (noexec kept from the source)
	Mode   uint32  `json:"m,omitempty"`
}

// reserved are the sandbox paths the driver provides itself. A read-only
// path may not replace them; paths under /proc, /dev and /sys are never
// taken from the host.
var (
	reservedExact = []string{"/", "/tmp", "/code", "/dev", "/proc", "/sys"}
	reservedTrees = []string{"/code", "/dev", "/proc", "/sys"}
)

// privateDir is the working directory of a sandbox without Spec.Dir:
// writable, private, size-limited.
const privateDir = "/code"

func under(path, dir string) bool {
	return path == dir || dir == "/" || strings.HasPrefix(path, dir+"/")
}

// planReadOnly turns Spec.ReadOnlyPaths into binds and symlinks.
//
// Each path is resolved through the host's symlinks component by component,
// and every symlink met on the way is recreated in the sandbox, so that
// "/bin/sh" works when /bin is a link to usr/bin and "/usr/bin/python3"
// works when it links to python3.11. Binds therefore always land on real
// directories of the new root: building it never follows a symlink.
//
// Paths that do not exist are skipped (a runtime lists what it may need);
// sockets and device nodes are skipped (a bound docker.sock would be a way
// out); a path above a hidden directory, or inside one but not strictly
// inside an exposed directory, is an error.
func planReadOnly(paths, hidden, exposed []string) ([]mountOp, error) {
	type bind struct {
		path string
		fi   fs.FileInfo
	}
	var binds []bind
	links := map[string]string{}
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("read-only path %q is not absolute", p)
		}
		canon, fi, chain, err := resolve(filepath.Clean(p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read-only path %s: %w", p, err)
		}
		if canon == "/" {
			return nil, fmt.Errorf("read-only path %s: the whole host file system cannot be mounted", p)
		}
		if err := checkHidden(canon, hidden, exposed); err != nil {
			return nil, fmt.Errorf("read-only path %s: %w", p, err)
		}
		if slices.ContainsFunc(reservedTrees, func(r string) bool { return under(canon, r) }) {
			continue
		}
		if slices.Contains(reservedExact, canon) {
			return nil, fmt.Errorf("read-only path %s: %s is provided by the sandbox", p, canon)
		}
		for at, to := range chain {
			if !slices.ContainsFunc(reservedTrees, func(r string) bool { return under(at, r) }) &&
				!slices.Contains(reservedExact, at) && at != "/etc" {
				links[at] = to
			}
		}
		if fi.IsDir() || fi.Mode().IsRegular() {
			binds = append(binds, bind{canon, fi})
		}
	}
	slices.SortFunc(binds, func(a, b bind) int { return strings.Compare(a.path, b.path) })
	var ops []mountOp
	var dirs []string // binds of directories so far: what they cover needs nothing more
	covered := func(p string) bool {
		return slices.ContainsFunc(dirs, func(d string) bool { return p != d && under(p, d) })
	}
	for _, b := range binds {
		if covered(b.path) || len(ops) > 0 && ops[len(ops)-1].Target == b.path {
			continue
		}
		op := mountOp{Kind: opBind, Target: b.path, Source: b.path, File: !b.fi.IsDir()}
		// The sandbox user is neither owner nor group of host files: a path
		// that others may not read is shown as the sandbox user's instead
		// (read-only) rather than being useless to it.
		need := fs.FileMode(0o004)
		if b.fi.IsDir() {
			need = 0o005
		}
		op.Idmap = b.fi.Mode().Perm()&need != need
		var st unix.Statfs_t
		if unix.Statfs(b.path, &st) == nil && st.Flags&unix.ST_NOEXEC != 0 {
			op.Flags |= unix.MS_NOEXEC
		}
		ops = append(ops, op)
		if b.fi.IsDir() {
			dirs = append(dirs, b.path)
		}
	}
	for at, to := range links {
		if !covered(at) && !slices.ContainsFunc(ops, func(o mountOp) bool { return o.Target == at }) {
			ops = append(ops, mountOp{Kind: opSymlink, Target: at, Source: to})
		}
	}
	sortOps(ops)
	return ops, nil
}

// checkHidden refuses a canonical path that holds a hidden directory, or
// lies in one without lying strictly inside an exposed directory.
func checkHidden(p string, hidden, exposed []string) error {
	for _, h := range hidden {
		if under(h, p) {
			return fmt.Errorf("%s must stay hidden from sandboxes", h)
		}
		if under(p, h) && !slices.ContainsFunc(exposed, func(e string) bool { return p != e && under(p, e) }) {
			return fmt.Errorf("%s must stay hidden from sandboxes", h)
		}
	}
	return nil
}

// maxLinks bounds symlink resolution, as the kernel's ELOOP does.
const maxLinks = 40

// resolve follows path through symlinks. It returns the canonical path, its
// file info, and every symlink met (its path → its target as written).
func resolve(path string) (string, fs.FileInfo, map[string]string, error) {
	chain := map[string]string{}
	for hops := 0; ; hops++ {
		if hops > maxLinks {
			return "", nil, nil, fmt.Errorf("%s: too many levels of symbolic links", path)
		}
		parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
		cur := "/"
		restart := false
		for i, part := range parts {
			next := filepath.Join(cur, part)
			fi, err := os.Lstat(next)
			if err != nil {
				return "", nil, nil, err
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				to, err := os.Readlink(next)
				if err != nil {
					return "", nil, nil, err
				}
				chain[next] = to
				target := to
				if !filepath.IsAbs(target) {
					target = filepath.Join(cur, target)
				}
				path = filepath.Join(append([]string{target}, parts[i+1:]...)...)
				restart = true
				break
			}
			if i == len(parts)-1 {
				return next, fi, chain, nil
			}
			if !fi.IsDir() {
				return "", nil, nil, fmt.Errorf("%s: %w", next, unix.ENOTDIR)
			}
			cur = next
		}
		if !restart {
			// Only "/" itself gets here.
			fi, err := os.Stat("/")
			return "/", fi, chain, err
		}
	}
}

// maskedProc are /proc files that tell about the host rather than the sandbox.
var maskedProc = []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
	"/proc/sysrq-trigger", "/proc/latency_stats"}

// baseOps is the part of every sandbox's root that depends on nothing in
// its Spec: /dev, /proc, /tmp, a writable /code (which the code directory,
// when there is one, covers) and the sandbox user in /etc. A prestarted init
// builds it while it waits.
func baseOps(tmpMB, uid, gid int) []mountOp {
	tmp := fmt.Sprintf("size=%dm,mode=1777", tmpMB)
	ops := []mountOp{
		{Kind: opTmpfs, Target: "/code", Data: fmt.Sprintf("size=%dm,mode=755,uid=%d,gid=%d", tmpMB, uid, gid)},
		{Kind: opFile, Target: "/etc/passwd", Mode: 0o644,
			Data: fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nsandbox:x:%d:%d:sandbox:/tmp:/sbin/nologin\n", uid, gid)},
		{Kind: opFile, Target: "/etc/group", Mode: 0o644, Data: fmt.Sprintf("root:x:0:\nsandbox:x:%d:\n", gid)},
		{Kind: opTmpfs, Target: "/dev", Data: "size=64k,nr_inodes=64,mode=755", Flags: unix.MS_NOEXEC},
		{Kind: opTmpfs, Target: "/dev/shm", Data: tmp, Flags: unix.MS_NOEXEC},
		{Kind: opSymlink, Target: "/dev/fd", Source: "/proc/self/fd"},
		{Kind: opSymlink, Target: "/dev/stdin", Source: "/proc/self/fd/0"},
		{Kind: opSymlink, Target: "/dev/stdout", Source: "/proc/self/fd/1"},
		{Kind: opSymlink, Target: "/dev/stderr", Source: "/proc/self/fd/2"},
		{Kind: opProc, Target: "/proc"},
		{Kind: opReadOnly, Target: "/proc/sys"},
		{Kind: opTmpfs, Target: "/tmp", Data: tmp},
	}
	for _, dev := range []string{"null", "zero", "full", "random", "urandom"} {
		ops = append(ops, mountOp{Kind: opDevice, Target: "/dev/" + dev, Source: "/dev/" + dev})
	}
	for _, p := range maskedProc {
		ops = append(ops, mountOp{Kind: opMask, Target: p})
	}
	sortOps(ops)
	return ops
}

// specOps is the rest: the read-only binds, the code directory at its own
// path, and the /etc files that name the host.
//
// The code cache is private to root, so every bind that shows code — the
// code directory, or a read-only path that holds it (a runtime may list the
// directory its code directory is in) — shows it as the sandbox user's.
func specOps(ro []mountOp, codeDir string, etc map[string]string) []mountOp {
	ops := make([]mountOp, 0, len(ro)+len(etc)+1)
	needCode := codeDir != ""
	for _, op := range ro {
		if codeDir != "" && op.Target != codeDir && under(op.Target, codeDir) {
			continue // inside the code directory, which is bound whole
		}
		if codeDir != "" && op.Kind == opBind && !op.File && under(codeDir, op.Target) {
			op.Idmap = true
			needCode = false
		}
		ops = append(ops, op)
	}
	if needCode {
		ops = append(ops, mountOp{Kind: opBind, Target: codeDir, Source: codeDir, Idmap: true})
	}
	etcBound := slices.ContainsFunc(ro, func(o mountOp) bool { return o.Target == "/etc" })
	for name, content := range etc {
		target := "/etc/" + name
		if etcBound || slices.ContainsFunc(ro, func(o mountOp) bool { return o.Target == target }) {
			continue
		}
		ops = append(ops, mountOp{Kind: opFile, Target: target, Data: content, Mode: 0o644})
	}
	sortOps(ops)
	return ops
}

// sortOps puts parents before children: "/dev" before "/dev/null", "/tmp"
// before a read-only path under /tmp, "/dev/null" before the /proc files it
// masks. (The base ops all come before the spec ops, whose only parents
// among them are /tmp and /dev.)
func sortOps(ops []mountOp) {
	slices.SortStableFunc(ops, func(a, b mountOp) int { return strings.Compare(a.Target, b.Target) })
}

// etcFiles are the /etc files that depend on the sandbox: its host name,
// and where DNS is (only with a network). /etc/passwd and /etc/group are in
// the base.
func etcFiles(hostname, network string) map[string]string {
	files := map[string]string{
		"hosts":    "127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t" + hostname + "\n",
		"hostname": hostname + "\n",
	}
	if network != NetworkNone {
		if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			files["resolv.conf"] = string(b)
		}
	}
	return files
}

// buildBase starts the sandbox's root on root (a host directory), in the
// init's own mount namespace: everything of baseOps. It runs before the init
// knows what it will run.
func buildBase(root string, ops []mountOp) error {
	// Nothing done from here on may reach the host's mount table.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m,nr_inodes=4096,mode=755"); err != nil {
		return fmt.Errorf("mount root: %w", err)
	}
	return applyOps(root, ops, -1)
}

// finishRoot adds the spec's ops to the root, makes it the root of the
// mount namespace, detaches the host's, and makes it read-only.
// usernsFD is the user namespace for idmapped binds, or -1.
func finishRoot(root string, ops []mountOp, usernsFD int) error {
	if err := applyOps(root, ops, usernsFD); err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	// pivot_root(".", ".") stacks the old root under the new one; detaching
	// it leaves nothing of the host reachable, unlike chroot.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	const ro = unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV
	if err := unix.Mount("", "/", "", ro, ""); err != nil {
		return fmt.Errorf("make the root read-only: %w", err)
	}
	return nil
}

func applyOps(root string, ops []mountOp, usernsFD int) error {
	for _, op := range ops {
		if err := applyOp(root, op, usernsFD); err != nil {
			return fmt.Errorf("%s: %w", op.Target, err)
		}
	}
	return nil
}

func applyOp(root string, op mountOp, usernsFD int) error {
	dst := root + op.Target
	if err := mkdirs(root, filepath.Dir(op.Target)); err != nil {
		return err
	}
	const nosuid = unix.MS_NOSUID | unix.MS_NODEV
	switch op.Kind {
	case opSymlink:
		return ignoreExist(os.Symlink(op.Source, dst))
	case opFile:
		// A read-only path may already have put the host's file here.
		if _, err := os.Lstat(dst); err == nil {
			return nil
		}
		return os.WriteFile(dst, []byte(op.Data), fs.FileMode(op.Mode))
	case opTmpfs:
		if err := ignoreExist(os.Mkdir(dst, 0o755)); err != nil {
			return err
		}
		return unix.Mount("tmpfs", dst, "tmpfs", nosuid|op.Flags, op.Data)
	case opProc:
		if err := ignoreExist(os.Mkdir(dst, 0o555)); err != nil {
			return err
		}
		return unix.Mount("proc", dst, "proc", nosuid|unix.MS_NOEXEC, "")
	case opDevice:
		if err := touch(dst); err != nil {
			return err
		}
		if err := unix.Mount(op.Source, dst, "", unix.MS_BIND, ""); err != nil {
			return err
		}
		return unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NOEXEC, "")
	case opMask:
		fi, err := os.Lstat(dst)
		if err != nil || fi.IsDir() {
			return nil // absent on this kernel: nothing to hide
		}
		return unix.Mount(root+"/dev/null", dst, "", unix.MS_BIND, "")
	case opReadOnly:
		if err := unix.Mount(dst, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		return unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|nosuid|unix.MS_NOEXEC, "")
	case opBind:
		var err error
		if op.File {
			err = touch(dst)
		} else {
			err = ignoreExist(os.Mkdir(dst, 0o755))
		}
		if err != nil {
			return err
		}
		if op.Idmap && usernsFD >= 0 && bindIdmapped(op.Source, dst, usernsFD, op.Flags) == nil {
			return nil
		}
		// Without idmapped mounts (kernels before 5.12, file systems that
		// lack them) the path is bound as it is: readable if its mode says so.
		if err := unix.Mount(op.Source, dst, "", unix.MS_BIND, ""); err != nil {
			return err
		}
		return unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|nosuid|op.Flags, "")
	}
	return fmt.Errorf("unknown step %d", op.Kind)
}

// bindIdmapped binds src at dst read-only through the user namespace usernsFD,
// which maps the host's root to the sandbox user: files of the code cache,
// private to root, read as the sandbox user's own.
func bindIdmapped(src, dst string, usernsFD int, flags uintptr) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	attr := &unix.MountAttr{
		Attr_set:  unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV,
		Userns_fd: uint64(usernsFD),
	}
	if flags&unix.MS_NOEXEC != 0 {
		attr.Attr_set |= unix.MOUNT_ATTR_NOEXEC
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return err
	}
	return unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH)
}

// mkdirs makes dir (a sandbox path) and its parents under root, refusing to
// go through a symlink: one could point anywhere on the host while the host
// root is still mounted.
func mkdirs(root, dir string) error {
	cur := root
	for _, part := range strings.Split(strings.TrimPrefix(dir, "/"), "/") {
		if part == "" {
			continue
		}
		cur += "/" + part
		fi, err := os.Lstat(cur)
		switch {
		case err == nil && fi.IsDir():
			continue
		case err == nil:
			return fmt.Errorf("%s is not a directory", strings.TrimPrefix(cur, root))
		case errors.Is(err, fs.ErrNotExist):
			if err := ignoreExist(os.Mkdir(cur, 0o755)); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return nil
}

func touch(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func ignoreExist(err error) error {
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}
