// Package sandboxclient points an unmodified whatsmeow client at a sandbox network instead of
// WhatsApp. It is the only place where the client's trust root is replaced, and it is used only
// when a network URL is given explicitly (--network-url).
package sandboxclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
)

// Info is what a sandbox publishes at GET /sandbox/info.
type Info struct {
	// RootPublicKey is the base64 Curve25519 key that signs the sandbox's Noise certificates.
	RootPublicKey string `json:"rootPublicKey"`
	// Version is the sandbox's version string.
	Version string `json:"version"`
}

// FetchInfo reads /sandbox/info from the sandbox at baseURL (http://host:port).
func FetchInfo(ctx context.Context, baseURL string) (Info, error) {
	var info Info
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/sandbox/info", nil)
	if err != nil {
		return info, fmt.Errorf("building sandbox info request: %w", err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return info, fmt.Errorf("fetching sandbox info from %s: %w", baseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return info, fmt.Errorf("fetching sandbox info from %s: status %s", baseURL, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&info); err != nil {
		return info, fmt.Errorf("decoding sandbox info: %w", err)
	}
	return info, nil
}

// trustMu serialises changes of whatsmeow's process-wide trust root.
var trustMu sync.Mutex

// Trust installs key as whatsmeow's Noise trust root for the whole process.
func Trust(key [32]byte) {
	trustMu.Lock()
	whatsmeow.WACertPubKey = key
	trustMu.Unlock()
}

// Configure makes cli talk to the sandbox at baseURL: it installs the sandbox's root key as
// whatsmeow's trust root (process-wide) and routes the websocket and media HTTP to the sandbox.
// Call it before cli.Connect.
func Configure(ctx context.Context, cli *whatsmeow.Client, baseURL string) error {
	info, err := FetchInfo(ctx, baseURL)
	if err != nil {
		return err
	}
	key, err := base64.StdEncoding.DecodeString(info.RootPublicKey)
	if err != nil || len(key) != 32 {
		return fmt.Errorf("sandbox at %s published an invalid root key", baseURL)
	}
	Trust([32]byte(key))
	h, err := HTTPClient(baseURL)
	if err != nil {
		return err
	}
	cli.SetPreLoginHTTPClient(h)
	cli.SetWebsocketHTTPClient(h)
	cli.SetMediaHTTPClient(h)
	return nil
}

// HTTPClient returns an HTTP client that sends every request, whatever host its URL names
// (web.whatsapp.com, media hosts), to the sandbox at baseURL over plain HTTP.
func HTTPClient(baseURL string) (*http.Client, error) {
	target, err := url.Parse(baseURL)
	if err != nil || target.Host == "" || (target.Scheme != "http" && target.Scheme != "https") {
		return nil, fmt.Errorf("invalid sandbox URL %q", baseURL)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil
	return &http.Client{Transport: &rewriter{target: target, next: base}}, nil
}

// rewriter is a RoundTripper that retargets requests at the sandbox.
type rewriter struct {
	target *url.URL
	next   http.RoundTripper
}

func (r *rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme = r.target.Scheme
	out.URL.Host = r.target.Host
	out.Host = r.target.Host
	return r.next.RoundTrip(out)
}
