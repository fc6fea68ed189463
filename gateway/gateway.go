// Package gateway is the front door of Messenger Operator (`messenger-operator gateway`): one
// HTTP entry that routes /<namespace>/<name>/<method> and /instance<id>/<method> to instance
// Services, authenticates callers with the instance token or scoped API keys, and limits request
// rates per key and per instance. Routes, tokens and keys come from informers on
// MessengerInstances and Secrets, so they follow changes without polling or restarts.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
)

// Resolver returns the base URL of an instance's HTTP API (scheme and host; the path is ignored).
type Resolver func(mi *v1alpha1.MessengerInstance) (*url.URL, error)

// Options configure a Gateway.
type Options struct {
	// Namespaces limits the watch to these namespaces; empty watches all.
	Namespaces []string
	// Resolve finds an instance's upstream; nil uses ServiceResolver (status.endpoint).
	Resolve Resolver
	// DialContext dials upstreams; nil uses a net.Dialer (in-cluster DNS).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// KeyLimit is the default limit of each API key (and of each instance token's callers).
	KeyLimit Limit
	// InstanceLimit is the limit of all calls to one instance together.
	InstanceLimit Limit
	// Logger receives the access log (no secrets) and errors.
	Logger *slog.Logger
	// WakeTimeout bounds how long a call to a hibernated instance is held while it wakes; after
	// it the call gets 503 with Retry-After (DefaultWakeTimeout when zero).
	WakeTimeout time.Duration
	// ActivityInterval is the least time between two last-call stamps of one hibernating
	// instance (DefaultActivityInterval when zero; at most a quarter of its idleAfter).
	ActivityInterval time.Duration
}

// Limit is a token-bucket rate: Rate requests per second with bursts of Burst. Rate 0 is no limit.
type Limit struct {
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
}

// Gateway serves the front door. It is an http.Handler; Start runs its informers.
type Gateway struct {
	opts      Options
	cache     cache.Cache
	writer    client.Client // annotates MessengerInstances (wake requests, last calls)
	proxy     http.Handler
	transport http.RoundTripper
	wakes     wakes
	activity  activity
	limits    *limiters
	metrics   *metrics
	log       *slog.Logger
}

// New builds a Gateway watching the API server at cfg. Call Start before serving.
func New(cfg *rest.Config, opts Options) (*Gateway, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Resolve == nil {
		opts.Resolve = ServiceResolver
	}
	if opts.WakeTimeout <= 0 {
		opts.WakeTimeout = DefaultWakeTimeout
	}
	if opts.ActivityInterval <= 0 {
		opts.ActivityInterval = DefaultActivityInterval
	}
	c, err := newCache(cfg, opts.Namespaces)
	if err != nil {
		return nil, err
	}
	scheme, err := controllers.NewScheme()
	if err != nil {
		return nil, err
	}
	w, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("gateway client: %w", err)
	}
	g := &Gateway{opts: opts, cache: c, writer: w, limits: newLimiters(), metrics: newMetrics(), log: opts.Logger,
		wakes: wakes{by: map[types.NamespacedName]*wakeWait{}}, activity: activity{last: map[types.NamespacedName]time.Time{}}}
	g.proxy = g.newProxy()
	return g, nil
}

// Start runs the informers until ctx ends and returns once their caches are synced.
func (g *Gateway) Start(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- g.cache.Start(ctx) }()
	syncCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if !g.cache.WaitForCacheSync(syncCtx) {
		select {
		case err := <-errc:
			return fmt.Errorf("gateway informers: %w", err)
		default:
			return errors.New("gateway informers did not sync")
		}
	}
	return nil
}

// ServiceResolver is the in-cluster resolver: status.endpoint, else the instance Service's DNS name.
func ServiceResolver(mi *v1alpha1.MessengerInstance) (*url.URL, error) {
	raw := mi.Status.Endpoint
	if raw == "" {
		raw = controllers.Endpoint(mi)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("instance %s/%s: endpoint %q is not a URL", mi.Namespace, mi.Name, raw)
	}
	return u, nil
}
