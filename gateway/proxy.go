package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/redact"
)

// upstreamKey carries the resolved upstream of a request from ServeHTTP to the proxy.
type upstreamKey struct{}

// upstream is where and how one request goes on.
type upstream struct {
	base          *url.URL
	path, rawPath string
	token         string
	// quiet: an unreachable upstream is not answered by the proxy but reported in unreachable
	// (an instance with spec.hibernation that may have just gone to sleep: the caller wakes it).
	quiet, unreachable bool
}

// newProxy builds the streaming reverse proxy: bodies are copied through in both directions, never
// buffered whole, so a 64 MiB sendFile costs the gateway a few copy buffers.
func (g *Gateway) newProxy() http.Handler {
	dial := g.opts.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dial,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
		ExpectContinueTimeout: time.Second,
	}
	g.transport = transport
	return &httputil.ReverseProxy{
		Rewrite:       rewrite,
		Transport:     transport,
		FlushInterval: 100 * time.Millisecond,
		ErrorLog:      nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the client went away
			}
			if up, ok := r.Context().Value(upstreamKey{}).(*upstream); ok && up.quiet {
				up.unreachable = true
				return
			}
			g.log.Warn("upstream failed", "path", r.URL.Path, "error", redact.Error(err).Error())
			writeError(w, http.StatusBadGateway, "instance unreachable")
		},
	}
}

// rewrite sends the request to the instance: the path after the gateway prefix, the query without
// the caller's token, and the instance's own token (an API key is not the instance's token).
func rewrite(pr *httputil.ProxyRequest) {
	up := pr.In.Context().Value(upstreamKey{}).(*upstream)
	out := pr.Out
	out.URL.Scheme, out.URL.Host = up.base.Scheme, up.base.Host
	out.URL.Path, out.URL.RawPath = up.path, up.rawPath
	if q := out.URL.Query(); q.Has("token") {
		q.Del("token")
		out.URL.RawQuery = q.Encode()
	}
	out.Host = up.base.Host
	if up.token != "" {
		out.Header.Set("Authorization", "Bearer "+up.token)
	} else {
		out.Header.Del("Authorization")
	}
	pr.SetXForwarded()
}

// writeError answers {"error": msg} like the instance does.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
