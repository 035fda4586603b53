package linux

import "testing"

func TestIPv4(t *testing.T) {
	n, err := parseCIDR("10.200.7.9/16")
	if err != nil || n.String() != "10.200.0.0/16" {
		t.Fatalf("parseCIDR = %v, %v", n, err)
	}
	if a, _ := parseIPv4("10.200.255.1"); !n.contains(a) {
		t.Error("10.200.255.1 not in 10.200.0.0/16")
	}
	if a, _ := parseIPv4("10.201.0.1"); n.contains(a) {
		t.Error("10.201.0.1 in 10.200.0.0/16")
	}
	for _, bad := range []string{"10.0.0.0", "10.0.0/8", "10.0.0.256/8", "::1/128", "10.0.0.0/33"} {
		if _, err := parseCIDR(bad); err == nil {
			t.Errorf("parseCIDR(%q) succeeded", bad)
		}
	}
	// /proc/net/route prints addresses in the host's byte order (little
	// endian on every architecture the driver has a seccomp table for).
	if a, err := hexIP("0002000A"); err != nil || ipString(a) != "10.0.2.0" {
		t.Errorf("hexIP = %s, %v", ipString(a), err)
	}
	if got := chainName(4194304, 0xfffffff); len(got)+len("-POSTROUTING") > 28 {
		t.Errorf("chainName gives %q: too long for iptables", got)
	}
	if pid, ok := chainPID(chainName(1234, 7)); !ok || pid != 1234 {
		t.Errorf("chainPID(chainName(1234, 7)) = %d, %v", pid, ok)
	}
	if _, ok := chainPID("G-GUST"); ok {
		t.Error("chainPID takes G-GUST for a driver's chain")
	}
	// Two drivers of one process must not share chains: the first to close
	// would remove the other's firewall.
	if chainName(1234, 1) == chainName(1234, 2) {
		t.Error("chainName is not unique per driver")
	}
}

func TestHostname(t *testing.T) {
	for id, want := range map[string]string{"150405-12": "150405-12", "Guest/Hello World": "guest-hello-world", "": "sandbox", "__": "sandbox"} {
		if got := hostname(id); got != want {
			t.Errorf("hostname(%q) = %q, want %q", id, got, want)
		}
	}
}
