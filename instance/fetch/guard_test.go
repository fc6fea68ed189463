package fetch

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// TestGuardSpecialPurpose covers the IANA special-purpose registries address by address.
func TestGuardSpecialPurpose(t *testing.T) {
	cases := []struct {
		addr    string
		allowed bool
	}{
		{"0.1.2.3", false},          // this network
		{"10.9.8.7", false},         // private
		{"100.64.0.1", false},       // CGNAT
		{"100.127.255.254", false},  // CGNAT, top
		{"100.128.0.1", true},       // just past CGNAT
		{"127.0.0.1", false},        // loopback
		{"169.254.0.5", false},      // link-local
		{"169.254.169.254", false},  // metadata
		{"168.63.129.16", false},    // Azure wire server
		{"168.63.129.17", true},     // its neighbour is public
		{"172.31.255.1", false},     // private
		{"192.0.0.8", false},        // IETF protocol assignments
		{"192.0.2.1", false},        // TEST-NET-1
		{"192.88.99.1", false},      // 6to4 relay anycast
		{"192.168.0.1", false},      // private
		{"198.18.0.1", false},       // benchmarking
		{"198.19.255.255", false},   // benchmarking, top
		{"198.20.0.1", true},        // past benchmarking
		{"198.51.100.7", false},     // TEST-NET-2
		{"203.0.113.9", false},      // TEST-NET-3
		{"224.0.0.251", false},      // multicast
		{"239.255.255.250", false},  // multicast
		{"240.0.0.1", false},        // reserved
		{"255.255.255.255", false},  // broadcast
		{"93.184.216.34", true},     // public
		{"::", false},               // unspecified
		{"::1", false},              // loopback
		{"::7f00:1", false},         // IPv4-compatible 127.0.0.1
		{"::5db8:d822", false},      // IPv4-compatible, even of a public address
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},  // IPv4-mapped private
		{"::ffff:169.254.169.254", false},
		{"::ffff:93.184.216.34", true},     // IPv4-mapped public: judged as its IPv4 address
		{"::ffff:0:a00:1", false},          // IPv4-translated
		{"64:ff9b::a00:1", false},          // NAT64 of 10.0.0.1
		{"64:ff9b::7f00:1", false},         // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", false},      // NAT64 of the metadata address
		{"64:ff9b::5db8:d822", true},       // NAT64 of a public address
		{"64:ff9b:1::5db8:d822", false},    // local-use NAT64
		{"100::1", false},                  // discard-only
		{"2001::1", false},                 // Teredo
		{"2001:0:4136:e378::1", false},     // Teredo
		{"2001:2::1", false},               // benchmarking
		{"2001:db8::1", false},             // documentation
		{"3fff::1", false},                 // documentation
		{"2002:a00:1::1", false},           // 6to4 of 10.0.0.1
		{"2002:c0a8:101::1", false},        // 6to4 of 192.168.1.1
		{"2002:7f00:1::1", false},          // 6to4 of 127.0.0.1
		{"2002:5db8:d822::1", true},        // 6to4 of a public address
		{"5f00::1", false},                 // SRv6
		{"fc00::1", false},                 // unique local
		{"fd00:ec2::254", false},           // AWS metadata
		{"fe80::1", false},                 // link-local
		{"fec0::1", false},                 // site-local
		{"feff:ffff::1", false},            // site-local, top
		{"ff02::1", false},                 // multicast
		{"ff05::2", false},                 // multicast
		{"2606:4700:4700::1111", true},     // public
		{"2a00:1450:4001:80b::200e", true}, // public
	}
	var g Guard
	for _, c := range cases {
		if got := g.Allowed(netip.MustParseAddr(c.addr)); got != c.allowed {
			t.Errorf("Allowed(%s) = %v, want %v", c.addr, got, c.allowed)
		}
	}
}

func TestGuardAllowNetworks(t *testing.T) {
	allow, err := ParsePrefixes(" 10.96.0.0/12, 10.244.0.0/16 ,127.0.0.1,fd00:10::/64,")
	if err != nil {
		t.Fatal(err)
	}
	g := Guard{Allow: allow}
	for addr, want := range map[string]bool{
		"10.96.0.10": true, "10.111.255.255": true, "10.244.3.4": true, "10.112.0.1": false,
		"127.0.0.1": true, "127.0.0.2": false, "::ffff:10.96.0.10": true, "fd00:10::5": true, "fd00:11::5": false,
		"64:ff9b::a60:a": true, // NAT64 of the allowed 10.96.0.10
	} {
		if got := g.Allowed(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allowed(%s) with %v = %v, want %v", addr, allow, got, want)
		}
	}
	// A wide network does not open the metadata addresses inside it; naming one exactly does.
	wide := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("100.64.0.0/10")}}
	if !wide.Allowed(netip.MustParseAddr("169.254.1.1")) || wide.Allowed(netip.MustParseAddr("169.254.169.254")) ||
		wide.Allowed(netip.MustParseAddr("100.100.100.200")) {
		t.Error("a wide allowed network opened a metadata address")
	}
	exact := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}
	if !exact.Allowed(netip.MustParseAddr("169.254.169.254")) {
		t.Error("an exact prefix does not allow the metadata address")
	}
	for _, bad := range []string{"10.0.0.0/33", "ten/8", "10.0.0.0/8;rm", "fd00::/129"} {
		if _, err := ParsePrefixes(bad); err == nil {
			t.Errorf("ParsePrefixes(%q) accepted", bad)
		}
	}
	if p, _ := ParsePrefixes("10.1.2.3/8"); len(p) != 1 || p[0].String() != "10.0.0.0/8" {
		t.Errorf("ParsePrefixes does not mask: %v", p)
	}
}

func TestCheckDestination(t *testing.T) {
	allow, _ := ParsePrefixes("10.96.0.0/12")
	g := Guard{Allow: allow}
	cases := []struct {
		url, reason string // reason empty: accepted
	}{
		{"https://93.184.216.34/hook", ""},
		{"http://10.96.0.10:8080/hook?token=x", ""},
		{"http://no-such-host.invalid/hook", ""}, // does not resolve (yet): accepted
		{"ftp://example.com/", "scheme"},
		{"http:///path", "no host"},
		{"http://127.0.0.1:9000/", "127.0.0.1 is a loopback"},
		{"http://[::1]/", "::1 is a loopback"},
		{"http://[::ffff:192.168.1.1]/", "192.168.1.1 is a loopback"},
		{"http://169.254.169.254/latest/meta-data", "169.254.169.254"},
		{"http://[fe80::1%25eth0]/", "fe80::1"},
		{"http://10.0.0.1/", "10.0.0.1"},
		{"http://localhost:8080/", "localhost resolves to 127.0.0.1"},
		{"http://2130706433/", "neither an IP address nor a DNS name"},
		{"http://0x7f.1/", "neither an IP address nor a DNS name"},
		{"http://127.1/", "neither an IP address nor a DNS name"},
	}
	for _, c := range cases {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		err = g.CheckDestination(context.Background(), u)
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("CheckDestination(%s) = %v, want accepted", c.url, err)
		case c.reason != "" && (err == nil || !strings.Contains(err.Error(), c.reason)):
			t.Errorf("CheckDestination(%s) = %v, want an error saying %q", c.url, err, c.reason)
		}
	}
	u, _ := url.Parse("http://127.0.0.1/")
	if err := g.CheckDestination(context.Background(), u); !errors.Is(err, ErrBlocked) {
		t.Errorf("a refused address does not wrap ErrBlocked: %v", err)
	}
	if err := (Guard{AllowPrivate: true}).CheckDestination(context.Background(), u); err != nil {
		t.Errorf("AllowPrivate refused %s: %v", u, err)
	}
	loop := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	u, _ = url.Parse("http://localhost:8080/")
	if err := loop.CheckDestination(context.Background(), u); err != nil {
		t.Errorf("localhost refused with loopback allowed: %v", err)
	}
}
