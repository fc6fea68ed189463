package cmd

import (
	"net"
	"net/http"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/net/netutil"

	"github.com/messenger-operator/messenger-operator/instance/api"
)

func addServerLimitFlags(f *pflag.FlagSet, l *serverLimits) {
	f.IntVar(&l.maxConnections, "max-connections", defaultMaxConnections,
		"most client connections served at once; further ones wait to be accepted")
	f.DurationVar(&l.readTimeout, "read-timeout", defaultReadTimeout,
		"time to read a request; a larger body gets more at --min-body-rate")
	f.Int64Var(&l.minBodyRate, "min-body-rate", api.DefaultMinBodyRate,
		"slowest request body accepted past --read-timeout, in bytes per second")
	f.StringSliceVar(&l.trustedProxies, "trusted-proxies", nil,
		"addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client (none by default)")
}

func (l serverLimits) readTimeoutOrDefault() time.Duration {
	if l.readTimeout > 0 {
		return l.readTimeout
	}
	return defaultReadTimeout
}

// newHTTPServer is the instance's HTTP server: headers within 10 s, the whole request within the
// read timeout (handlers reading a body move that deadline at the minimum body rate, see
// api.Options.MinBodyRate), idle keep-alive connections closed after 2 minutes.
func newHTTPServer(h http.Handler, l serverLimits) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: l.readTimeoutOrDefault(),
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// limitListener caps the connections served at once (--max-connections).
func limitListener(ln net.Listener, l serverLimits) net.Listener {
	n := l.maxConnections
	if n <= 0 {
		n = defaultMaxConnections
	}
	return netutil.LimitListener(ln, n)
}
