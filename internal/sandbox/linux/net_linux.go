package linux

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Egress networking. Each "egress" sandbox gets a veth pair: "eth0" in its
// network namespace, a host end named gs<tag><slot>, and a /30 of its own out
// of Config.EgressCIDR. The host routes and masquerades its traffic to the
// outside, and drops everything else with iptables rules in chains of the
// driver's own:
//   - INPUT: nothing from a sandbox reaches the host itself, on any of its
//     addresses;
//   - FORWARD: nothing between sandboxes, nothing to private, link-local
//     (cloud metadata), shared, loopback or multicast ranges — except DNS to
//     the host's own name servers — and only replies come back in;
//   - IPv6 is off on both ends, so link-local IPv6 cannot reach the host.
// The rules match every gs+ interface, so drivers sharing a host share the
// policy; each driver removes its own chains on Close. The chains are named
// after the driver, not after anything drivers share (such as the cgroup
// parent): otherwise the first driver to close would remove the firewall
// of every other driver's sandboxes on the host.

// blockedRanges are the destinations an egress sandbox may not reach.
var blockedRanges = []string{"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4"}

// vethPrefix starts the host end of every sandbox's veth pair.
const vethPrefix = "gs"

type egress struct {
	iptables string
	chain    string // prefix of the driver's chain names
	tag      string // part of the host-side interface names that is the driver's
	subnet   ipv4Net
	slots    uint32 // /30s in the subnet
	// forwardWasOff: the host did not forward IPv4 before the driver.
	forwardWasOff bool

	mu   sync.Mutex
	used map[uint32]bool
	next uint32
}

// veth is one sandbox's pair, seen from the host.
type veth struct {
	eg   *egress
	slot uint32
	name string // host end
	eth  ethConfig
}

// ethConfig is what the init sets on eth0.
type ethConfig struct {
	Addr    string `json:"addr"`
	Prefix  int    `json:"prefix"`
	Gateway string `json:"gateway"`
}

// newEgress prepares egress networking for the driver whose cgroup parent is
// parent, or says why it cannot.
func newEgress(parent, cidr string) (*egress, error) {
	ipt, err := exec.LookPath("iptables")
	if err != nil {
		for _, p := range []string{"/usr/sbin/iptables", "/sbin/iptables"} {
			if _, err := os.Stat(p); err == nil {
				ipt = p
			}
		}
	}
	if ipt == "" {
		return nil, errors.New("egress networking needs iptables, which is not installed: sandboxes asking for egress get no network")
	}
	subnet, err := parseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("egress networking: %w", err)
	}
	ones := subnet.bits
	if ones > 29 {
		return nil, fmt.Errorf("egress networking: %s is too small", cidr)
	}
	if dev, overlap := routeOverlap(subnet); overlap {
		return nil, fmt.Errorf("egress networking: %s overlaps a route of the host (%s)", cidr, dev)
	}
	h := fnv.New32a()
	h.Write([]byte(parent))
	eg := &egress{
		iptables: ipt,
		chain:    chainName(os.Getpid(), chainSeq.Add(1)),
		tag:      fmt.Sprintf("%04x", h.Sum32()&0xffff),
		subnet:   subnet,
		slots:    1 << (30 - ones),
		used:     map[uint32]bool{},
	}
	if b, err := os.ReadFile(ipForward); err == nil && strings.TrimSpace(string(b)) == "0" {
		eg.forwardWasOff = true
	}
	if err := writeFile(ipForward, "1"); err != nil {
		return nil, fmt.Errorf("egress networking: enabling forwarding: %w", err)
	}
	if err := eg.install(); err != nil {
		eg.close()
		return nil, fmt.Errorf("egress networking: %w: sandboxes asking for egress get no network", err)
	}
	return eg, nil
}

// chainSeq tells apart the drivers of one process.
var chainSeq atomic.Uint32

// chainName makes the prefix of a driver's iptables chain names, unique on
// the host while the driver lives: its process and its number in the
// process. With "-POSTROUTING" after it, at most iptables' 28 bytes.
func chainName(pid int, seq uint32) string {
	return fmt.Sprintf("G-%x.%x", pid&0xffffff, seq&0xfffffff)
}

// chainPID is the process of the driver whose chain prefix is name, if name
// is one.
func chainPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "G-")
	if !ok {
		return 0, false
	}
	pid, seq, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(pid, 16, 32)
	if _, serr := strconv.ParseUint(seq, 16, 32); err != nil || serr != nil || n == 0 {
		return 0, false
	}
	return int(n), true
}

// removeStale removes the chains of drivers whose process died without
// closing them (killed): the rules are the same as every live driver's, so
// they are only clutter.
func (eg *egress) removeStale() {
	out, err := exec.Command(eg.iptables, "-w", "-t", "filter", "-S").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, ok := strings.CutPrefix(line, "-N ")
		if !ok || !strings.HasSuffix(name, "-INPUT") {
			continue
		}
		prefix := strings.TrimSuffix(name, "-INPUT")
		if pid, ok := chainPID(prefix); ok && unix.Kill(pid, 0) == unix.ESRCH {
			(&egress{iptables: eg.iptables, chain: prefix}).uninstall()
		}
	}
}

// routeOverlap reports a host route, other than a sandbox's, that overlaps
// subnet: sandboxes there would shadow or be shadowed by a real network.
func routeOverlap(subnet ipv4Net) (string, bool) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || strings.HasPrefix(fields[0], vethPrefix) {
			continue
		}
		dst, err1 := hexIP(fields[1])
		mask, err2 := hexIP(fields[7])
		if err1 != nil || err2 != nil || mask == 0 {
			continue // the default route overlaps everything by design
		}
		route := ipv4Net{addr: dst & mask, mask: mask}
		if route.contains(subnet.addr) || subnet.contains(route.addr) {
			return fields[0], true
		}
	}
	return "", false
}

// hexIP parses /proc/net/route's hex addresses, in the host's byte order.
func hexIP(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, err
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	return binary.BigEndian.Uint32(b[:]), nil
}

// ipv4Net is an IPv4 network, addresses as big-endian numbers. The package
// does without package net on purpose: importing it would delay this
// package's initialization — and so the sandbox init role — until after
// most of a large binary's packages have initialized.
type ipv4Net struct {
	addr, mask uint32
	bits       int
}

func (n ipv4Net) contains(a uint32) bool { return a&n.mask == n.addr }

func (n ipv4Net) String() string { return fmt.Sprintf("%s/%d", ipString(n.addr), n.bits) }

func parseCIDR(s string) (ipv4Net, error) {
	addr, bits, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(bits)
	a, aerr := parseIPv4(addr)
	if !ok || err != nil || aerr != nil || n < 0 || n > 32 {
		return ipv4Net{}, fmt.Errorf("%q is not an IPv4 CIDR", s)
	}
	mask := uint32(0xffffffff) << (32 - n)
	if n == 0 {
		mask = 0
	}
	return ipv4Net{addr: a & mask, mask: mask, bits: n}, nil
}

func parseIPv4(s string) (uint32, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return 0, fmt.Errorf("%q is not an IPv4 address", s)
	}
	var a uint32
	for _, p := range parts {
		v, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return 0, fmt.Errorf("%q is not an IPv4 address", s)
		}
		a = a<<8 | uint32(v)
	}
	return a, nil
}

func ipString(a uint32) string {
	return fmt.Sprintf("%d.%d.%d.%d", a>>24, a>>16&0xff, a>>8&0xff, a&0xff)
}

func ipBytes(a uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, a)
}

func (eg *egress) ipt(args ...string) error {
	out, err := exec.Command(eg.iptables, append([]string{"-w"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// rules returns the driver's chains and their rules, by table.
func (eg *egress) rules() map[string]map[string][][]string {
	ifs := vethPrefix + "+"
	fwd := [][]string{{"-i", ifs, "-o", ifs, "-j", "DROP"}}
	for _, ns := range nameservers() {
		for _, proto := range []string{"udp", "tcp"} {
			fwd = append(fwd, []string{"-i", ifs, "-d", ns, "-p", proto, "--dport", "53", "-j", "ACCEPT"})
		}
	}
	for _, r := range blockedRanges {
		fwd = append(fwd, []string{"-i", ifs, "-d", r, "-j", "DROP"})
	}
	fwd = append(fwd,
		[]string{"-i", ifs, "-j", "ACCEPT"},
		[]string{"-o", ifs, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
		[]string{"-o", ifs, "-j", "DROP"})
	return map[string]map[string][][]string{
		"filter": {
			"FORWARD": fwd,
			"INPUT":   {{"-i", ifs, "-j", "DROP"}},
		},
		"nat": {
			"POSTROUTING": {{"-s", eg.subnet.String(), "!", "-o", ifs, "-j", "MASQUERADE"}},
		},
	}
}

// install creates the chains afresh (a crashed run may have left them) and
// hooks them first into the built-in chains.
func (eg *egress) install() error {
	eg.removeStale()
	for table, chains := range eg.rules() {
		for hook, rules := range chains {
			chain := eg.chain + "-" + hook
			if eg.ipt("-t", table, "-N", chain) != nil {
				if err := eg.ipt("-t", table, "-F", chain); err != nil {
					return err
				}
			}
			for _, r := range rules {
				if err := eg.ipt(append([]string{"-t", table, "-A", chain}, r...)...); err != nil {
					return err
				}
			}
			if eg.ipt("-t", table, "-C", hook, "-j", chain) != nil {
				if err := eg.ipt("-t", table, "-I", hook, "1", "-j", chain); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// uninstall removes the driver's chains.
func (eg *egress) uninstall() error {
	var errs []error
	for table, chains := range eg.rules() {
		for hook := range chains {
			chain := eg.chain + "-" + hook
			for eg.ipt("-t", table, "-D", hook, "-j", chain) == nil {
			}
			if eg.ipt("-t", table, "-F", chain) == nil {
				if err := eg.ipt("-t", table, "-X", chain); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// nameservers lists the host's IPv4 name servers that a sandbox can reach
// through NAT: a resolver on the host's loopback (systemd-resolved) cannot be.
func nameservers() []string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := parseIPv4(f[1]); err == nil && a>>24 != 127 {
				out = append(out, ipString(a))
			}
		}
	}
	return out
}

// close removes the driver's chains and, if forwarding was off before the
// driver turned it on, turns it off again.
func (eg *egress) close() error {
	err := eg.uninstall()
	if eg.forwardWasOff {
		writeFile(ipForward, "0")
	}
	return err
}

const ipForward = "/proc/sys/net/ipv4/ip_forward"

// attach gives the process pid (an init, not yet configured) its veth pair.
func (eg *egress) attach(pid int) (*veth, error) {
	eg.mu.Lock()
	var slot uint32
	found := false
	for i := uint32(0); i < eg.slots; i++ {
		s := (eg.next + i) % eg.slots
		if !eg.used[s] {
			slot, found = s, true
			break
		}
	}
	if found {
		eg.used[slot] = true
		eg.next = slot + 1
	}
	eg.mu.Unlock()
	if !found {
		return nil, errors.New("egress networking: every address of the subnet is in use")
	}
	base := eg.subnet.addr + slot*4
	ip := func(n uint32) string { return ipString(base + n) }
	v := &veth{eg: eg, slot: slot, name: fmt.Sprintf("%s%s%x", vethPrefix, eg.tag, slot),
		eth: ethConfig{Addr: ip(2), Prefix: 30, Gateway: ip(1)}}
	if err := v.create(pid, ip(1)); err != nil {
		v.remove()
		return nil, fmt.Errorf("egress networking: %w", err)
	}
	return v, nil
}

func (v *veth) create(pid int, hostAddr string) error {
	deleteLink(v.name) // left by a run that crashed
	peer := append(ifInfomsg(0, 0, 0),
		nlAttr(unix.IFLA_IFNAME, cstring("eth0"))...)
	peer = append(peer, nlAttr(unix.IFLA_NET_NS_PID, u32(uint32(pid)))...)
	info := append(nlAttr(unix.IFLA_INFO_KIND, cstring("veth")),
		nlAttr(unix.IFLA_INFO_DATA, nlAttr(vethInfoPeer, peer))...)
	msg := append(ifInfomsg(0, 0, 0), nlAttr(unix.IFLA_IFNAME, cstring(v.name))...)
	msg = append(msg, nlAttr(unix.IFLA_LINKINFO, info)...)
	if err := netlink(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, msg); err != nil {
		return fmt.Errorf("creating %s: %w", v.name, err)
	}
	// No IPv6 on the host's end: the sandbox could otherwise reach the host
	// over link-local addresses, which the IPv4 rules do not see.
	writeFile("/proc/sys/net/ipv6/conf/"+v.name+"/disable_ipv6", "1")
	return linkUp(v.name, hostAddr, 30, "")
}

// remove deletes the pair (already gone if the sandbox's namespace died
// first) and frees its addresses.
func (v *veth) remove() error {
	deleteLink(v.name)
	v.eg.mu.Lock()
	delete(v.eg.used, v.slot)
	v.eg.mu.Unlock()
	return nil
}

// vethInfoPeer is VETH_INFO_PEER from linux/veth.h.
const vethInfoPeer = 1

// linkUp gives the interface name an address and brings it up, with a
// default route through gateway when one is given. It acts in the calling
// thread's network namespace: the host's for the parent, the sandbox's for
// the init.
func linkUp(name, addr string, prefix int, gateway string) error {
	index, err := ifIndex(name)
	if err != nil {
		return err
	}
	a32, err := parseIPv4(addr)
	if err != nil {
		return err
	}
	ip := ipBytes(a32)
	a := make([]byte, unix.SizeofIfAddrmsg)
	a[0] = unix.AF_INET
	a[1] = byte(prefix)
	binary.NativeEndian.PutUint32(a[4:], uint32(index))
	a = append(a, nlAttr(unix.IFA_LOCAL, ip)...)
	a = append(a, nlAttr(unix.IFA_ADDRESS, ip)...)
	if err := netlink(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, a); err != nil {
		return fmt.Errorf("address of %s: %w", name, err)
	}
	if err := netlink(unix.RTM_NEWLINK, 0, ifInfomsg(int32(index), unix.IFF_UP, unix.IFF_UP)); err != nil {
		return fmt.Errorf("bringing up %s: %w", name, err)
	}
	if gateway == "" {
		return nil
	}
	r := make([]byte, unix.SizeofRtMsg)
	r[0] = unix.AF_INET
	r[4] = unix.RT_TABLE_MAIN
	r[5] = unix.RTPROT_BOOT
	r[6] = unix.RT_SCOPE_UNIVERSE
	r[7] = unix.RTN_UNICAST
	gw, err := parseIPv4(gateway)
	if err != nil {
		return err
	}
	r = append(r, nlAttr(unix.RTA_GATEWAY, ipBytes(gw))...)
	r = append(r, nlAttr(unix.RTA_OIF, u32(uint32(index)))...)
	if err := netlink(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, r); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	return nil
}

func deleteLink(name string) error {
	return netlink(unix.RTM_DELLINK, 0, append(ifInfomsg(0, 0, 0), nlAttr(unix.IFLA_IFNAME, cstring(name))...))
}

func ifIndex(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

// netlink sends one rtnetlink request and waits for its acknowledgement.
// The few messages the driver needs do not justify a netlink library.
func netlink(typ uint16, flags uint16, body []byte) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:], 1) // sequence
	msg = append(msg, body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return errors.New("netlink: malformed reply")
			}
			if binary.NativeEndian.Uint16(b[4:]) == unix.NLMSG_ERROR {
				if l < unix.SizeofNlMsghdr+4 {
					return errors.New("netlink: short error")
				}
				if errno := -int32(binary.NativeEndian.Uint32(b[unix.SizeofNlMsghdr:])); errno != 0 {
					return unix.Errno(errno)
				}
				return nil
			}
			b = b[nlAlign(l):]
		}
	}
}

func ifInfomsg(index int32, flags, change uint32) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	binary.NativeEndian.PutUint32(b[8:], flags)
	binary.NativeEndian.PutUint32(b[12:], change)
	return b
}

func nlAttr(typ uint16, data []byte) []byte {
	l := 4 + len(data)
	b := make([]byte, nlAlign(l))
	binary.NativeEndian.PutUint16(b[0:], uint16(l))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[4:], data)
	return b
}

func nlAlign(n int) int { return (n + 3) &^ 3 }

func u32(v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return b
}

func cstring(s string) []byte { return append([]byte(s), 0) }
