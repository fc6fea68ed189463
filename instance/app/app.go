// Package app assembles the instance server from its parts, in dependency order — metrics, store,
// media, kube agent, WhatsApp engine, webhook dispatcher, HTTP API, janitor — runs them and shuts
// them down gracefully. Command lines turn their flags into a Config and call Run.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/agent"
	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/engine"
	"github.com/messenger-operator/messenger-operator/instance/events"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/metrics"
	natssink "github.com/messenger-operator/messenger-operator/instance/sink/nats"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/instance/webhook"
)

// Config is what the instance server runs with: the values of the `instance` command's flags.
type Config struct {
	// Listen is the address the HTTP API is served on.
	Listen string
	// DataDir holds the SQLite database and the media files.
	DataDir string
	// Database is empty for SQLite in DataDir, or a postgres:// URL.
	Database string
	// Token is the API token; it must not be empty.
	Token string
	// NetworkURL is empty for the real WhatsApp service, or the sandbox to connect to.
	NetworkURL string
	// Proxy is an optional proxy URL for WhatsApp traffic.
	Proxy string
	// WebhookURL is stored at start unless the webhook guard would never deliver to it.
	WebhookURL string
	// WebhookSecret is the Standard Webhooks signing key (whsec_<base64> or raw).
	WebhookSecret string
	// InstanceName and Namespace name the MessengerInstance in a pod; the name is also the
	// webhook instanceId (else the host name).
	InstanceName, Namespace string
	// Kube is the Kubernetes client configuration of the kube agent; the agent runs when it and
	// InstanceName and Namespace are all set.
	Kube *rest.Config
	// PodName starts the Lease holder identity (default: the host name); LeaseName is the Lease
	// gating the WhatsApp connection (default <InstanceName>-lease).
	PodName, LeaseName string
	// AckNotifications, when set, is stored at start.
	AckNotifications *bool
	// PublicURL is the absolute base URL of media links in webhooks (default: the in-cluster
	// Service in a pod, else localhost).
	PublicURL string
	// AllowPrivate turns the SSRF guard off for sendFile URLs and webhooks.
	AllowPrivate bool
	// WebhookAllowNetworks are private or loopback networks webhook destinations may be on.
	WebhookAllowNetworks []netip.Prefix
	// MaxFileBytes is the largest file sendFile accepts.
	MaxFileBytes int64
	// MaxQueueItems and MaxQueueBytes cap the queue; zero means no cap.
	MaxQueueItems, MaxQueueBytes int64
	// MediaRetention is how long downloaded media and finished queue items are kept.
	MediaRetention time.Duration
	// WebhookMaxAge is how long a webhook batch is retried.
	WebhookMaxAge time.Duration
	// ShutdownTimeout is how long graceful shutdown waits for in-flight work.
	ShutdownTimeout time.Duration
	// Liveness are the engine's thresholds for a connection that stopped answering (zero: the
	// defaults).
	Liveness engine.Liveness
	// MaxConnections caps the client connections served at once (zero: DefaultMaxConnections).
	MaxConnections int
	// ReadTimeout is the time to read a request (zero: DefaultReadTimeout); a larger body gets
	// more at MinBodyRate bytes per second.
	ReadTimeout time.Duration
	MinBodyRate int64
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names the client.
	TrustedProxies []string
	// EventsRetention and EventsRetentionCount bound the event log of GET /events (zero: the
	// defaults of instance/events).
	EventsRetention      time.Duration
	EventsRetentionCount int64
	// NATS, when set, publishes the events to NATS JetStream too (spec.events.nats).
	NATS *natssink.Config
	// SQLite tunes the SQLite pool and page cache (zero: the store's defaults).
	SQLite SQLiteTuning
	// IdleTrim returns freed memory to the OS this long after start and then every 5 minutes
	// (zero: never; the command sets DefaultIdleTrim).
	IdleTrim time.Duration
}

// parts are the built pieces of a running instance server.
type parts struct {
	metrics    *metrics.Metrics
	store      *store.Store
	media      *media.Dir
	agent      *agent.Agent
	engine     account.Engine
	dispatcher *webhook.Dispatcher
	api        *api.Server
	events     *events.Stream
	nats       *natssink.Sink
	publicURL  string
}

// Run builds the instance server, calls listening with its URL once it serves, and serves until
// ctx ends; then it shuts down gracefully.
func Run(ctx context.Context, cfg Config, log *slog.Logger, listening func(url string)) error {
	if cfg.Token == "" {
		return errors.New("an API token is required")
	}
	var p parts
	var err error
	if p.metrics, err = metrics.New(nil); err != nil {
		return err
	}
	if p.store, err = openStore(ctx, cfg, p.metrics, log); err != nil {
		return err
	}
	defer func() { _ = p.store.Close() }()
	refused, err := storeStartSettings(ctx, cfg, p.store, log)
	if err != nil {
		return err
	}
	if p.media, err = media.Open(filepath.Join(cfg.DataDir, "media"), cfg.Token); err != nil {
		return err
	}
	if p.agent, err = newAgent(cfg, p.store, log); err != nil {
		return err
	}
	if p.engine, err = newEngine(ctx, cfg, p, log); err != nil {
		return err
	}
	if cfg.AllowPrivate {
		log.Warn("SSRF guard off: sendFile URLs and webhooks may reach private addresses")
	} else if len(cfg.WebhookAllowNetworks) > 0 {
		log.Info("webhook destinations allowed on private networks", "networks", fmt.Sprint(cfg.WebhookAllowNetworks))
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	if p.publicURL = cfg.PublicURL; p.publicURL == "" {
		p.publicURL = defaultPublicURL(cfg, l.Addr())
	}
	if err := buildServers(cfg, &p, refused, log); err != nil {
		_ = l.Close()
		return err
	}
	return serve(ctx, cfg, p, l, log, listening)
}

// openStore opens the store and adds its gauges to the metrics.
func openStore(ctx context.Context, cfg Config, m *metrics.Metrics, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, store.Options{Database: cfg.Database, DataDir: cfg.DataDir, Logger: log,
		MaxQueueItems: noCapIfZero(cfg.MaxQueueItems), MaxQueueBytes: noCapIfZero(cfg.MaxQueueBytes),
		SQLiteCacheKiB: cfg.SQLite.CacheKiB, MaxIdleConns: cfg.SQLite.MaxIdleConns, ConnMaxIdleTime: cfg.SQLite.ConnMaxIdleTime})
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	if err := m.WatchStore(st); err != nil {
		_ = st.Close()
		return nil, err
	}
	log.Info("store open", "dialect", string(st.Dialect()), "schemaVersion", store.SchemaVersion())
	return st, nil
}

// noCapIfZero maps a cap of Config (zero: none) to store.Options, where zero means the default
// and negative none.
func noCapIfZero(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// newEngine builds the WhatsApp engine on the store and media, gated by the agent's Lease when
// there is an agent, and adds its metrics.
func newEngine(ctx context.Context, cfg Config, p parts, log *slog.Logger) (account.Engine, error) {
	opts := engine.Options{Store: p.store, Media: p.media, NetworkURL: cfg.NetworkURL, Proxy: cfg.Proxy, Logger: log,
		Liveness: cfg.Liveness}
	if p.agent != nil {
		opts.Gate = p.agent.Gate()
	}
	eng, err := engine.New(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("starting the WhatsApp engine: %w", err)
	}
	if err := p.metrics.WatchEngine(eng); err != nil {
		return nil, err
	}
	return eng, nil
}

// guards returns the SSRF guard of sendFile URLs and the one of webhook deliveries: the same but
// for WebhookAllowNetworks, which only opens webhook destinations.
func guards(cfg Config) (sendFile, webhooks fetch.Guard) {
	return fetch.Guard{AllowPrivate: cfg.AllowPrivate},
		fetch.Guard{AllowPrivate: cfg.AllowPrivate, Allow: cfg.WebhookAllowNetworks}
}

// buildServers builds the webhook dispatcher and the HTTP API, both reporting to the metrics.
func buildServers(cfg Config, p *parts, refused *api.RefusedWebhook, log *slog.Logger) error {
	fileGuard, hookGuard := guards(cfg)
	instanceID := cfg.InstanceName
	if instanceID == "" {
		instanceID, _ = os.Hostname()
	}
	var err error
	p.dispatcher, err = webhook.New(webhook.Options{Store: p.store, Client: hookGuard.Client(30 * time.Second),
		InstanceID: instanceID, Secret: cfg.WebhookSecret, MaxAge: cfg.WebhookMaxAge, Logger: log,
		Rewrite: api.RewriteMedia(p.publicURL), Observe: p.metrics.ObserveWebhook})
	if err != nil {
		return err
	}
	if err := buildEvents(cfg, p, instanceID, log); err != nil {
		return err
	}
	p.api, err = api.New(api.Options{Events: p.events, Store: p.store, Engine: p.engine, Media: p.media, Token: cfg.Token,
		PublicURL: p.publicURL, Fetcher: fetch.NewFetcher(fileGuard, cfg.MaxFileBytes), MaxFileBytes: cfg.MaxFileBytes,
		BodyReadTimeout: readTimeout(cfg), MinBodyRate: cfg.MinBodyRate, TrustedProxies: cfg.TrustedProxies,
		Webhook: webhookSettings{dispatcher: p.dispatcher, agent: p.agent}, SpecSettings: specSettings(p.agent), WebhookGuard: hookGuard,
		WebhookRefused: refused, Metrics: p.metrics, Logger: log})
	return err
}

// serve runs the parts until ctx ends or the HTTP server fails, then stops them in order: the
// HTTP server (in-flight requests finish), the dispatcher, janitor and engine, then the agent.
func serve(ctx context.Context, cfg Config, p parts, l net.Listener, log *slog.Logger, listening func(string)) error {
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { p.dispatcher.Run(workCtx) })
	wg.Go(func() { janitor(workCtx, p.store, p.media, cfg.MediaRetention, log) })
	wg.Go(func() { recordStatusHistory(workCtx, p.engine, p.store, log) })
	wg.Go(func() { reportStatusEvents(workCtx, p, log) })
	wg.Go(func() { p.events.Run(workCtx) })
	if p.nats != nil {
		wg.Go(func() {
			if err := p.nats.Run(workCtx); err != nil {
				log.Error("NATS sink stopped", "error", err)
			}
		})
	}
	wg.Go(func() { idleTrim(cfg.IdleTrim, workCtx.Done()) })
	if cfg.IdleTrim > 0 {
		wg.Go(func() { loginTrim(p.engine, loginTrimSettle, debug.FreeOSMemory, workCtx.Done()) })
	}
	if r, ok := p.engine.(account.Runner); ok {
		wg.Go(func() {
			if err := r.Run(workCtx); err != nil && workCtx.Err() == nil {
				log.Error("WhatsApp engine stopped", "error", err)
			}
		})
	}
	stopAgent := runAgent(ctx, p.agent, p.engine, p.dispatcher.Kick, log)
	httpSrv := newHTTPServer(p.api.Handler(), cfg)
	httpSrv.RegisterOnShutdown(p.events.Close) // open event streams end, or Shutdown would wait for them
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(limitListener(l, cfg)) }()
	listening("http://" + l.Addr().String())
	log.Info("instance server listening", "address", l.Addr().String(), "publicURL", p.publicURL)
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	serr := httpSrv.Shutdown(shutdownCtx) // in-flight requests finish; their writes are committed
	stopWork()
	wg.Wait()
	stopAgent() // after the engine disconnected: the Lease may go to a successor
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, serr)
}

// defaultPublicURL guesses this server's URL: the in-cluster Service name in a pod, else localhost.
func defaultPublicURL(cfg Config, addr net.Addr) string {
	_, port, _ := net.SplitHostPort(addr.String())
	if cfg.InstanceName != "" && cfg.Namespace != "" {
		return fmt.Sprintf("http://%s.%s.svc:%s", cfg.InstanceName, cfg.Namespace, port)
	}
	return "http://localhost:" + port
}

// janitor removes downloaded media and finished queue items older than the retention, hourly.
func janitor(ctx context.Context, st *store.Store, md *media.Dir, retention time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := md.Cleanup(retention, time.Now()); err != nil {
			log.Warn("media cleanup", "error", err)
		} else if n > 0 {
			log.Info("removed old media files", "count", n)
		}
		if n, err := st.PruneQueue(ctx, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
			log.Warn("queue cleanup", "error", err)
		} else if n > 0 {
			log.Info("removed finished queue items", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
