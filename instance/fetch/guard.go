package fetch

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrBlocked is returned when a URL leads to an address the guard refuses.
var ErrBlocked = errors.New("address not allowed")

// Guard decides which IP addresses outgoing requests may connect to. The zero value refuses
// loopback, private, link-local (which includes cloud metadata), CGNAT, multicast, unspecified,
// reserved and documentation addresses, and IPv6 addresses that embed a refused IPv4 address.
type Guard struct {
	// AllowPrivate turns the guard off: every address is allowed.
	AllowPrivate bool
	// Allow lists prefixes allowed even though they are refused by default (the webhook
	// destinations of --webhook-allow-networks). A cloud metadata address is only allowed by a
	// prefix naming exactly that address, never by a wider network around it.
	Allow []netip.Prefix
}

// blockedPrefixes are refused unless allowed; the categories of netip (loopback, private,
// link-local, multicast, unspecified) cover the rest. The IANA IPv4 and IPv6 special-purpose
// address registries are the source.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (shared address space)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation (TEST-NET-1)
	netip.MustParsePrefix("192.88.99.0/24"),  // deprecated 6to4 relay anycast
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation (TEST-NET-3)
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the limited broadcast address
	netip.MustParsePrefix("::/96"),           // deprecated IPv4-compatible addresses
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated addresses (SIIT)
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64: the embedding is site-specific
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments
	netip.MustParsePrefix("2001::/32"),       // Teredo (within 2001::/23; embeds an obfuscated IPv4 address)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("3fff::/20"),       // documentation
	netip.MustParsePrefix("5f00::/16"),       // segment routing (SRv6) SIDs
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
}

// metadataAddrs are cloud metadata and host agent endpoints. They are refused like any other
// (they sit in link-local, private or otherwise public space) and a wider allowed network does not
// open them: only a prefix of exactly one of these addresses does.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack … instance metadata
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task metadata
	netip.MustParseAddr("fd00:ec2::254"),   // AWS instance metadata over IPv6
	netip.MustParseAddr("168.63.129.16"),   // Azure wire server (public space)
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud metadata (in CGNAT space)
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96") // well-known NAT64: the last 32 bits are the IPv4 address
	sixToFour   = netip.MustParsePrefix("2002::/16")    // 6to4: bits 16-47 are the IPv4 address
)

// Allowed reports whether a connection to ip is allowed. An IPv4-mapped address is judged as
// its IPv4 address, and so are NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses: they reach
// the IPv4 address they embed.
func (g Guard) Allowed(ip netip.Addr) bool {
	if g.AllowPrivate {
		return true
	}
	ip = ip.Unmap().WithZone("")
	if isMetadata(ip) {
		return g.allowsExactly(ip)
	}
	for _, p := range g.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	if v4, ok := embeddedIPv4(ip); ok {
		return g.Allowed(v4)
	}
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

func isMetadata(ip netip.Addr) bool {
	for _, m := range metadataAddrs {
		if ip == m {
			return true
		}
	}
	return false
}

// allowsExactly reports whether Allow holds a single-address prefix of ip.
func (g Guard) allowsExactly(ip netip.Addr) bool {
	for _, p := range g.Allow {
		if p.IsSingleIP() && p.Addr().Unmap() == ip {
			return true
		}
	}
	return false
}

// embeddedIPv4 returns the IPv4 address a NAT64 or 6to4 address leads to.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	b := ip.As16()
	switch {
	case !ip.Is6():
		return netip.Addr{}, false
	case nat64Prefix.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// ParsePrefixes parses comma-separated CIDRs (spaces and empty items ignored), such as the value of
// --webhook-allow-networks. A bare address is taken as a single-address prefix.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			a, err := netip.ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8: %w", item, err)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8: %w", item, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Control is a net.Dialer Control function: it runs after DNS resolution with the address about to
// be connected, so neither DNS rebinding nor redirects can get past it.
func (g Guard) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialed address %q", ErrBlocked, address)
	}
	if !g.Allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s is a loopback, private, link-local or reserved address", ErrBlocked, ap.Addr())
	}
	return nil
}

// Client returns an HTTP client whose every connection (redirects included) is checked by the
// guard. Environment proxies are ignored so the guard sees the real destination. At most 5
// redirects are followed, to http or https URLs only.
func (g Guard) Client(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.Control}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("stopped after 5 redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect to scheme %q", ErrBlocked, req.URL.Scheme)
			}
			return nil
		},
	}
}
