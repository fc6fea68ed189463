package app

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/messenger-operator/messenger-operator/instance/api"
)

// Defaults of the HTTP server's limits.
const (
	// DefaultMaxConnections is the default of Config.MaxConnections.
	DefaultMaxConnections = 1024
	// DefaultReadTimeout is the default of Config.ReadTimeout.
	DefaultReadTimeout = api.DefaultBodyReadTimeout
)

func readTimeout(cfg Config) time.Duration {
	if cfg.ReadTimeout > 0 {
		return cfg.ReadTimeout
	}
	return DefaultReadTimeout
}

// newHTTPServer is the instance's HTTP server: headers within 10 s, the whole request within the
// read timeout (handlers reading a body move that deadline at the minimum body rate, see
// api.Options.MinBodyRate), idle keep-alive connections closed after 2 minutes.
func newHTTPServer(h http.Handler, cfg Config) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: readTimeout(cfg),
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// limitListener caps the connections served at once (Config.MaxConnections).
func limitListener(ln net.Listener, cfg Config) net.Listener {
	n := cfg.MaxConnections
	if n <= 0 {
		n = DefaultMaxConnections
	}
	return netutil.LimitListener(ln, n)
}
