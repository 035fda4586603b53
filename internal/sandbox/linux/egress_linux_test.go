package linux_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gustfaas/gust/internal/sandbox/linux"
	"github.com/gustfaas/gust/internal/testenv"
)

// outside makes a test host in a network namespace of its own, linked to
// the host by a veth pair on a benchmarking range (198.18.0.0/15): what an
// egress sandbox would reach on the internet, without any traffic leaving
// this machine. It returns the host's and the test host's addresses and a
// listener in the test host.
func outside(t *testing.T) (hostAddr, outAddr string, ln net.Listener) {
	t.Helper()
	ip := testenv.MustHaveExecutable(t, "ip")
	n := os.Getpid() % 250
	ns, link := fmt.Sprintf("gust-out-%d", os.Getpid()), fmt.Sprintf("gto%d", os.Getpid()%100000)
	hostAddr, outAddr = fmt.Sprintf("198.18.%d.1", n), fmt.Sprintf("198.18.%d.2", n)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command(ip, "netns", "del", ns).Run()
	exec.Command(ip, "link", "del", link).Run()
	run("netns", "add", ns)
	t.Cleanup(func() {
		exec.Command(ip, "link", "del", link).Run()
		exec.Command(ip, "netns", "del", ns).Run()
	})
	run("link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", ns)
	run("addr", "add", hostAddr+"/30", "dev", link)
	run("link", "set", link, "up")
	run("-n", ns, "addr", "add", outAddr+"/30", "dev", "eth0")
	run("-n", ns, "link", "set", "eth0", "up")

	// A socket belongs to the network namespace it was made in: make the
	// listener from a thread that visits the test host's.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	ln, lerr := net.Listen("tcp", outAddr+":0")
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		panic("cannot return to the host's network namespace: " + err.Error())
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	t.Cleanup(func() { ln.Close() })
	return hostAddr, outAddr, ln
}

func TestNetworkEgress(t *testing.T) {
	testenv.MustHaveExecutable(t, "/usr/bin/python3")
	f := sharedFixture(t)
	cidr := fmt.Sprintf("10.213.%d.0/24", os.Getpid()%250)
	if err := f.d.Egress(); err != nil {
		t.Skipf("egress unavailable: %v", err)
	}
	hostAddr, outAddr, ln := outside(t)
	accepted := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			c.Close()
		}
	}()
	hostPort, hostAccepted := listen0(t)

	spec := f.spec(t)
	spec.Network = linux.NetworkEgress
	a := f.start(t, spec)
	spec.ID += "-b"
	b := f.start(t, spec)

	myAddr := `python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("` + outAddr + `", 9)); print(s.getsockname()[0])'`
	addrA, addrB := must(t, a, myAddr)[0], must(t, b, myAddr)[0]
	if !strings.HasPrefix(addrA, strings.TrimSuffix(cidr, "0/24")) || addrA == addrB {
		t.Fatalf("sandbox addresses %s and %s, want two in %s", addrA, addrB, cidr)
	}

	// Out, through NAT: the test host sees the host's address.
	must(t, a, fmt.Sprintf(connect, outAddr, ln.Addr().(*net.TCPAddr).Port))
	if src := <-accepted; src != hostAddr {
		t.Errorf("the outside saw %s, want the host's %s (NAT)", src, hostAddr)
	}

	// Not the host, on any of its addresses, nor another sandbox.
	gw := net.ParseIP(addrA).To4()
	gw[3]-- // the host's end of a's /30
	must(t, b, `(python3 -c 'import socket; s = socket.socket(); s.bind(("0.0.0.0", 8080)); s.listen(); s.accept()' >/dev/null 2>&1 &); sleep 0.2`)
	const try = `python3 -c 'import socket; socket.create_connection(("%s", %d), 0.5)'`
	targets := [][2]any{{hostAddr, hostPort}, {gw.String(), hostPort}, {addrB, 8080}}
	for _, tg := range targets {
		if out := fails(t, a, fmt.Sprintf(try, tg[0], tg[1])); !strings.Contains(out, "timed out") {
			t.Errorf("connecting to %v:%v: %q, want a timeout (dropped)", tg[0], tg[1], out)
		}
	}
	if hostAccepted.Load() != 0 {
		t.Error("the host accepted a connection from a sandbox")
	}
	if out := must(t, a, `cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6`); out[0] != "1" {
		t.Errorf("IPv6 on the sandbox's eth0: disable_ipv6 = %q", out)
	}

	// Other packages' tests start and stop sandboxes at the same time, so
	// count by name: one of the links there before must be gone after.
	links := func() map[string]bool {
		out, _ := exec.Command("ip", "-o", "link").CombinedOutput()
		set := map[string]bool{}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], "gs") {
				set[strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":")] = true
			}
		}
		return set
	}
	before := links()
	if err := a.Destroy(); err != nil {
		t.Fatal(err)
	}
	after := links()
	gone := 0
	for l := range before {
		if !after[l] {
			gone++
		}
	}
	if gone == 0 {
		t.Errorf("no sandbox link went away with Destroy (%d before, %d after)", len(before), len(after))
	}
}
