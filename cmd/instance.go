package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/agent"
	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/engine"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/redact"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/instance/webhook"
)

func init() { extraCommands = append(extraCommands, instanceCommand) }

// instanceOptions are the flags of `messenger-operator instance`.
type instanceOptions struct {
	listen, dataDir, database, token, tokenFile, networkURL string
	webhookURL, webhookSecret, instanceName, namespace      string
	publicURL, proxy, webhookAllowNetworks                  string
	kube                                                    kubeOptions
	allowPrivate                                            bool
	maxFileBytes, maxQueueItems, maxQueueBytes              int64
	mediaRetention, webhookMaxAge, shutdownTimeout          time.Duration
	server                                                  serverLimits
}

// serverLimits bound what clients may hold of the HTTP server (flags of `instance`).
type serverLimits struct {
	maxConnections int
	readTimeout    time.Duration
	minBodyRate    int64
	trustedProxies []string
}

// Defaults of serverLimits.
const (
	defaultMaxConnections = 1024
	defaultReadTimeout    = api.DefaultBodyReadTimeout
)

func instanceCommand() *cobra.Command {
	var o instanceOptions
	c := &cobra.Command{
		Use:   "instance",
		Short: "Run the instance server: the Chat API of one WhatsApp account",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := bindEnv(c.Flags()); err != nil {
				return err
			}
			o.kube.ackSet = c.Flags().Changed("ack-notifications")
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			logger := slog.New(slog.NewJSONHandler(c.ErrOrStderr(), nil))
			return runInstance(ctx, o, logger, func(url string) {
				fmt.Fprintf(c.OutOrStdout(), "instance server listening on %s\n", url)
			})
		},
	}
	f := c.Flags()
	f.StringVar(&o.listen, "listen", ":8080", "address to serve the HTTP API on")
	f.StringVar(&o.dataDir, "data-dir", "data", "directory for the SQLite database and media files")
	f.StringVar(&o.database, "database", "", "empty = SQLite in the data dir; postgres://… = PostgreSQL")
	f.StringVar(&o.token, "token", "", "API token (required unless --token-file)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the API token")
	f.StringVar(&o.networkURL, "network-url", "", "empty = the real WhatsApp service; a sandbox URL = that sandbox")
	f.StringVar(&o.webhookURL, "webhook-url", "", "webhook URL, stored at start (POST /webhook changes it)")
	f.StringVar(&o.webhookSecret, "webhook-secret", "", "Standard Webhooks signing key: whsec_<base64> or raw")
	f.StringVar(&o.instanceName, "instance-name", "", "MessengerInstance name (in a pod; also the webhook instanceId)")
	f.StringVar(&o.namespace, "namespace", "", "MessengerInstance namespace (in a pod)")
	addKubeFlags(f, &o.kube)
	f.StringVar(&o.proxy, "proxy", "", "proxy URL (http, https or socks5) for WhatsApp traffic")
	f.StringVar(&o.publicURL, "public-url", "", "absolute base URL of this server for media links in webhooks")
	f.BoolVar(&o.allowPrivate, "allow-private-addresses", false,
		"let sendFile URLs and webhooks reach loopback, private and link-local addresses (SSRF guard off)")
	f.StringVar(&o.webhookAllowNetworks, "webhook-allow-networks", "",
		"CIDRs, comma separated: webhook destinations on these private or loopback networks are allowed (not sendFile URLs)")
	f.Int64Var(&o.maxFileBytes, "max-file-bytes", api.DefaultMaxFileBytes, "largest file sendFile accepts")
	f.Int64Var(&o.maxQueueItems, "max-queue-items", store.DefaultMaxQueueItems,
		"most sends waiting in the queue; beyond it sends answer 429 (0: no cap)")
	f.Int64Var(&o.maxQueueBytes, "max-queue-bytes", store.DefaultMaxQueueBytes,
		"most bytes of files waiting in the queue; beyond it file sends answer 507 (0: no cap)")
	f.DurationVar(&o.mediaRetention, "media-retention", 30*24*time.Hour,
		"how long downloaded media files and finished queue items are kept")
	f.DurationVar(&o.webhookMaxAge, "webhook-max-age", webhook.DefaultMaxAge, "how long a webhook batch is retried (at least 24h)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 20*time.Second, "how long graceful shutdown waits for in-flight work")
	addServerLimitFlags(f, &o.server)
	return c
}

// engineDeps is what the WhatsApp engine gets from the instance server.
type engineDeps struct {
	// Store holds the queue to drain and the journal to append to; Store.DB() and
	// Store.WhatsmeowDialect() give whatsmeow's sqlstore.NewWithDB the same database.
	Store *store.Store
	// Media stores downloaded incoming media (media.Incoming) and holds queued files.
	Media *media.Dir
	// NetworkURL is empty for WhatsApp, or the sandbox to connect to.
	NetworkURL string
	// Proxy is an optional proxy URL for WhatsApp traffic.
	Proxy  string
	Logger *slog.Logger
	// Gate, when set, decides when the engine may connect (the kube agent's Lease).
	Gate engine.Gate
}

// newEngine builds the WhatsApp engine (instance/engine) on the instance's store and media.
func newEngine(ctx context.Context, d engineDeps) (account.Engine, error) {
	return engine.New(ctx, engine.Options{Store: d.Store, Media: d.Media, NetworkURL: d.NetworkURL, Proxy: d.Proxy,
		Logger: d.Logger, Gate: d.Gate})
}

func (o instanceOptions) readToken() (string, error) {
	if o.token != "" && o.tokenFile != "" {
		return "", errors.New("give --token or --token-file, not both")
	}
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return "", fmt.Errorf("reading --token-file: %w", err)
		}
		o.token = strings.TrimSpace(string(b))
	}
	if o.token == "" {
		return "", errors.New("an API token is required: --token, --token-file, MESSENGER_TOKEN or MESSENGER_TOKEN_FILE")
	}
	return o.token, nil
}

// noCapIfZero maps a cap flag to store.Options, where zero means the default and negative none.
func noCapIfZero(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

func (o instanceOptions) validate() error {
	if o.maxQueueItems < 0 || o.maxQueueBytes < 0 {
		return errors.New("--max-queue-items and --max-queue-bytes must not be negative")
	}
	if o.webhookMaxAge < 24*time.Hour {
		return errors.New("--webhook-max-age must be at least 24h")
	}
	if o.maxFileBytes <= 0 {
		return errors.New("--max-file-bytes must be positive")
	}
	if o.server.maxConnections < 0 || o.server.readTimeout < 0 || o.server.minBodyRate < 0 {
		return errors.New("--max-connections, --read-timeout and --min-body-rate must not be negative")
	}
	if _, err := webhook.ParseSecret(o.webhookSecret); err != nil {
		return err
	}
	if _, _, err := o.guards(); err != nil {
		return err
	}
	return api.ValidateWebhookURL(o.webhookURL)
}

// guards returns the SSRF guard of sendFile URLs and the one of webhook deliveries: the same but
// for --webhook-allow-networks, which only opens webhook destinations.
func (o instanceOptions) guards() (sendFile, webhooks fetch.Guard, err error) {
	allow, err := fetch.ParsePrefixes(o.webhookAllowNetworks)
	if err != nil {
		return fetch.Guard{}, fetch.Guard{}, fmt.Errorf("--webhook-allow-networks: %w", err)
	}
	return fetch.Guard{AllowPrivate: o.allowPrivate}, fetch.Guard{AllowPrivate: o.allowPrivate, Allow: allow}, nil
}

// storeStartWebhook stores --webhook-url unless the webhook guard would never deliver to it: then
// the error is logged, webhooks are turned off (events wait in the outbox until a URL is set) and
// the returned reason is what GET /webhook reports.
func storeStartWebhook(ctx context.Context, o instanceOptions, st *store.Store, log *slog.Logger) (*api.RefusedWebhook, error) {
	refused := &api.RefusedWebhook{}
	if o.webhookURL == "" {
		return refused, nil
	}
	_, guard, _ := o.guards() // validate parsed them
	u := o.webhookURL
	if err := api.CheckWebhookURL(ctx, guard, u); err != nil {
		log.Error("--webhook-url refused; webhooks are off until a URL is set", "webhookUrl", redact.URL(u), "error", err)
		refused.Set("--webhook-url " + redact.URL(u) + " refused: " + err.Error())
		u = ""
	} else {
		log.Info("webhook URL stored from --webhook-url", "webhookUrl", redact.URL(u))
	}
	if err := st.SetWebhookURL(ctx, u); err != nil {
		return nil, fmt.Errorf("storing --webhook-url: %w", err)
	}
	return refused, nil
}

// runInstance serves until ctx ends, then shuts down gracefully.
func runInstance(ctx context.Context, o instanceOptions, log *slog.Logger, listening func(url string)) error {
	token, err := o.readToken()
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Options{Database: o.database, DataDir: o.dataDir, Logger: log,
		MaxQueueItems: noCapIfZero(o.maxQueueItems), MaxQueueBytes: noCapIfZero(o.maxQueueBytes)})
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer func() { _ = st.Close() }()
	log.Info("store open", "dialect", string(st.Dialect()), "schemaVersion", store.SchemaVersion())
	refused, err := storeStartWebhook(ctx, o, st, log)
	if err != nil {
		return err
	}
	if o.kube.ackSet {
		if err := st.SetAckNotifications(ctx, o.kube.ackNotifications); err != nil {
			return fmt.Errorf("storing --ack-notifications: %w", err)
		}
	}
	md, err := media.Open(filepath.Join(o.dataDir, "media"), token)
	if err != nil {
		return err
	}
	ag, err := newKubeAgent(o, st, log)
	if err != nil {
		return err
	}
	deps := engineDeps{Store: st, Media: md, NetworkURL: o.networkURL, Proxy: o.proxy, Logger: log}
	if ag != nil {
		deps.Gate = ag.Gate()
	}
	eng, err := newEngine(ctx, deps)
	if err != nil {
		return fmt.Errorf("starting the WhatsApp engine: %w", err)
	}
	return serveInstance(ctx, o, log, listening, st, md, eng, token, ag, refused)
}

func serveInstance(ctx context.Context, o instanceOptions, log *slog.Logger, listening func(string),
	st *store.Store, md *media.Dir, eng account.Engine, token string, ag *agent.Agent, refused *api.RefusedWebhook) error {
	if o.allowPrivate {
		log.Warn("SSRF guard off: sendFile URLs and webhooks may reach private addresses")
	} else if o.webhookAllowNetworks != "" {
		log.Info("webhook destinations allowed on private networks", "networks", o.webhookAllowNetworks)
	}
	l, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.listen, err)
	}
	publicURL := o.publicURL
	if publicURL == "" {
		publicURL = defaultPublicURL(o, l.Addr())
	}
	dispatcher, srv, err := buildServers(o, log, st, md, eng, token, publicURL, ag, refused)
	if err != nil {
		_ = l.Close()
		return err
	}
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { dispatcher.Run(workCtx) })
	wg.Go(func() { janitor(workCtx, st, md, o.mediaRetention, log) })
	if r, ok := eng.(account.Runner); ok {
		wg.Go(func() {
			if err := r.Run(workCtx); err != nil && workCtx.Err() == nil {
				log.Error("WhatsApp engine stopped", "error", err)
			}
		})
	}
	stopAgent := runKubeAgent(ctx, ag, eng, dispatcher.Kick, log)
	httpSrv := newHTTPServer(srv.Handler(), o.server)
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(limitListener(l, o.server)) }()
	listening("http://" + l.Addr().String())
	log.Info("instance server listening", "address", l.Addr().String(), "publicURL", publicURL)
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
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

func buildServers(o instanceOptions, log *slog.Logger, st *store.Store, md *media.Dir, eng account.Engine,
	token string, publicURL string, ag *agent.Agent, refused *api.RefusedWebhook) (*webhook.Dispatcher, *api.Server, error) {
	fileGuard, hookGuard, err := o.guards()
	if err != nil {
		return nil, nil, err
	}
	instanceID := o.instanceName
	if instanceID == "" {
		instanceID, _ = os.Hostname()
	}
	var srv *api.Server
	observe := func(outcome string, events int, age time.Duration) {
		if srv != nil {
			srv.Metrics()(outcome, events, age)
		}
	}
	dispatcher, err := webhook.New(webhook.Options{Store: st, Client: hookGuard.Client(30 * time.Second),
		InstanceID: instanceID, Secret: o.webhookSecret, MaxAge: o.webhookMaxAge, Logger: log,
		Rewrite: api.RewriteMedia(publicURL), Observe: observe})
	if err != nil {
		return nil, nil, err
	}
	srv, err = api.New(api.Options{Store: st, Engine: eng, Media: md, Token: token, PublicURL: publicURL,
		Fetcher: fetch.NewFetcher(fileGuard, o.maxFileBytes), MaxFileBytes: o.maxFileBytes,
		BodyReadTimeout: o.server.readTimeoutOrDefault(), MinBodyRate: o.server.minBodyRate,
		TrustedProxies: o.server.trustedProxies,
		WebhookChanged: webhookChanged(dispatcher, ag), WebhookManagedBy: webhookManagedBy(ag),
		WebhookGuard: hookGuard, WebhookRefused: refused, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return dispatcher, srv, nil
}

// defaultPublicURL guesses this server's URL: the in-cluster Service name in a pod, else localhost.
func defaultPublicURL(o instanceOptions, addr net.Addr) string {
	_, port, _ := net.SplitHostPort(addr.String())
	if o.instanceName != "" && o.namespace != "" {
		return fmt.Sprintf("http://%s.%s.svc:%s", o.instanceName, o.namespace, port)
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
