package fetch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// resolveTimeout bounds the DNS lookup CheckDestination makes.
const resolveTimeout = 3 * time.Second

// CheckDestination reports why the guard would never let a request reach u: a scheme other than
// http or https, no host, a host that is not a DNS name, an IP address the guard refuses, or a
// name whose every address the guard refuses. A name that does not resolve (yet) passes: it may
// resolve later, and then the dialer checks each address anyway. The error says why, for a
// person to read; it wraps ErrBlocked when an address is refused.
func (g Guard) CheckDestination(ctx context.Context, u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("the scheme must be http or https, not %q", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("the URL has no host")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !g.Allowed(ip) {
			return fmt.Errorf("%w: %s is a loopback, private, link-local, metadata or reserved address not on the allowed networks",
				ErrBlocked, describe(ip))
		}
		return nil
	}
	if numericName(host) {
		return fmt.Errorf("host %q is neither an IP address nor a DNS name", host)
	}
	if g.AllowPrivate {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil
	}
	for _, a := range addrs {
		if g.Allowed(a) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s resolves to %s: loopback, private, link-local, metadata or reserved, not on the allowed networks",
		ErrBlocked, host, describe(addrs[0]))
}

// describe names an address, and the IPv4 address it leads to when it embeds one.
func describe(ip netip.Addr) string {
	ip = ip.Unmap()
	if v4, ok := embeddedIPv4(ip); ok {
		return fmt.Sprintf("%s (which leads to %s)", ip, v4)
	}
	return ip.String()
}

// numericName reports whether host ends in an all-numeric or hexadecimal label ("2130706433",
// "0x7f.1", "127.1"): no DNS name does (top-level domains are alphabetic), but some resolvers
// read them as IPv4 addresses.
func numericName(host string) bool {
	host = strings.TrimSuffix(host, ".")
	last := host[strings.LastIndex(host, ".")+1:]
	if last == "" {
		return false
	}
	if l := strings.ToLower(last); strings.HasPrefix(l, "0x") {
		return true
	}
	for _, r := range last {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
