// Package api is the instance server's HTTP API: every endpoint of the Chat API (status, QR code,
// sends, messages, webhook and ack settings, logout, reboot, queue), pairing by phone code, /me,
// probes, Prometheus metrics, the OpenAPI document and the media files, on gin.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/metrics"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// Defaults of Options.
const (
	DefaultMaxJSONBytes = 1 << 20
	DefaultMaxFileBytes = 64 << 20
	DefaultGroupWait    = 20 * time.Second
	// MaxTextLength caps a text message (WhatsApp's own limit is 65,536 characters).
	MaxTextLength = 65536
)

// Options configure the server.
type Options struct {
	Store  *store.Store
	Engine account.Engine
	Media  *media.Dir
	// Fetcher downloads sendFile bodies given by URL (its size cap should be MaxFileBytes).
	Fetcher *fetch.Fetcher
	// Token is the API token; it must not be empty.
	Token string
	// PublicURL is the absolute base URL media links use (in /messages; webhooks get it through
	// RewriteMedia). The request's Host header is never used: a client could point links anywhere.
	// Empty means DefaultPublicURL.
	PublicURL string
	// MaxJSONBytes caps JSON request bodies; MaxFileBytes caps files sent.
	MaxJSONBytes int64
	MaxFileBytes int64
	// GroupWait is how long POST /group waits for the group to exist.
	GroupWait time.Duration
	// Webhook, when set, hears of webhook setting changes and says who owns them.
	Webhook WebhookSettings
	// SpecSettings, when set, says which other /settings fields the spec owns.
	SpecSettings SpecSettings
	// BodyReadTimeout and MinBodyRate pace request bodies: a body must arrive within
	// BodyReadTimeout plus its size at MinBodyRate bytes per second (defaults
	// DefaultBodyReadTimeout, DefaultMinBodyRate).
	BodyReadTimeout time.Duration
	MinBodyRate     int64
	// MaxConcurrentFiles caps sendFile requests receiving a file at once; others wait up to
	// FileWait, then get 503 (defaults DefaultMaxConcurrentFiles, DefaultFileWait).
	MaxConcurrentFiles int
	FileWait           time.Duration
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose X-Forwarded-For is
	// believed for the client address in logs; none by default (the peer address is the client).
	TrustedProxies []string
	// WebhookGuard is the guard webhooks are delivered through (its Allow holds
	// --webhook-allow-networks): POST /webhook refuses a URL it would never let through.
	WebhookGuard fetch.Guard
	// WebhookRefused, when set, holds why a webhook URL given at start was refused; GET /webhook
	// reports it until a URL is set through the API.
	WebhookRefused *RefusedWebhook
	// Events, when set, serves GET /events (the live event stream, see instance/events).
	Events http.Handler
	// Metrics records requests and sends; nil makes private ones watching Store and Engine.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
}

// WebhookSettings is what the API tells of and asks about the webhook settings beyond the store.
type WebhookSettings interface {
	// Changed is called after the webhook URL changed (the dispatcher looks at it, the agent
	// reports it).
	Changed()
	// ManagedBy, when not empty, names what owns the webhook settings (the MessengerInstance's
	// spec.webhook): POST /webhook and /settings/ackNotificationsOn then answer 409 instead of
	// changing what would be overwritten.
	ManagedBy() string
}

// Server is the HTTP API of one instance.
type Server struct {
	opts    Options
	engine  *gin.Engine
	metrics *metrics.Metrics
	log     *slog.Logger
	// intake holds a token per sendFile request receiving a file (MaxConcurrentFiles).
	intake chan struct{}
}

// New builds the server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Engine == nil || opts.Media == nil || opts.Fetcher == nil {
		return nil, errors.New("api: store, engine, media and fetcher are required")
	}
	if opts.Token == "" {
		return nil, errors.New("api: a token is required")
	}
	if opts.MaxJSONBytes <= 0 {
		opts.MaxJSONBytes = DefaultMaxJSONBytes
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.GroupWait <= 0 {
		opts.GroupWait = DefaultGroupWait
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BodyReadTimeout <= 0 {
		opts.BodyReadTimeout = DefaultBodyReadTimeout
	}
	if opts.MinBodyRate <= 0 {
		opts.MinBodyRate = DefaultMinBodyRate
	}
	if opts.MaxConcurrentFiles <= 0 {
		opts.MaxConcurrentFiles = DefaultMaxConcurrentFiles
	}
	if opts.FileWait <= 0 {
		opts.FileWait = DefaultFileWait
	}
	if opts.PublicURL == "" {
		opts.PublicURL = DefaultPublicURL
	}
	if err := validatePublicURL(opts.PublicURL); err != nil {
		return nil, err
	}
	if err := gin.New().SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, fmt.Errorf("api: trusted proxies: %w", err)
	}
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	s := &Server{opts: opts, log: opts.Logger, intake: make(chan struct{}, opts.MaxConcurrentFiles)}
	if s.metrics = opts.Metrics; s.metrics == nil {
		m, err := ownMetrics(opts.Store, opts.Engine)
		if err != nil {
			return nil, err
		}
		s.metrics = m
	}
	s.engine = s.routes()
	if err := s.mountConsole(s.engine); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the HTTP handler. Paths may start with /instance<digits> (see
// stripInstancePrefix).
func (s *Server) Handler() http.Handler { return stripInstancePrefix(s.engine) }

// ownMetrics are the metrics of a server given none: a private registry watching st and eng.
func ownMetrics(st *store.Store, eng account.Engine) (*metrics.Metrics, error) {
	m, err := metrics.New(nil)
	if err != nil {
		return nil, err
	}
	if err := m.WatchStore(st); err != nil {
		return nil, err
	}
	if err := m.WatchEngine(eng); err != nil {
		return nil, err
	}
	return m, nil
}

func init() { gin.SetMode(gin.ReleaseMode) }

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = false
	// No redirects: gin's 301 to the fixed path would echo the query string, ?token= included, in
	// a Location header (and in caches and logs on the way). /status/ is a JSON 404.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	// The client address (logs) is the peer's unless a trusted proxy forwarded the request.
	_ = r.SetTrustedProxies(s.opts.TrustedProxies) // validated in New
	r.Use(s.recoverJSON, s.logRequests, s.bodyDeadline)
	r.NoRoute(func(c *gin.Context) {
		abort(c, http.StatusNotFound, "no such endpoint: %s %s", c.Request.Method, c.Request.URL.Path)
	})

	// Probes, scrapers and the API description need no token.
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(s.metrics.Handler()))
	r.GET("/openapi.json", s.openapi)
	r.GET("/media/*file", s.serveMedia) // token or link signature

	a := r.Group("/", s.requireToken)
	a.GET("/status", s.status)
	a.GET("/qr_code", s.qrCode)
	a.GET("/me", s.me)
	a.POST("/pairingCode", s.limitBody(s.opts.MaxJSONBytes), s.pairingCode)
	a.POST("/sendMessage", s.limitBody(s.opts.MaxJSONBytes), s.sendMessage)
	a.POST("/message", s.limitBody(s.opts.MaxJSONBytes), s.sendMessage) // the old name most public code calls
	a.POST("/sendFile", s.limitBody(s.opts.MaxFileBytes/3*4+s.opts.MaxJSONBytes), s.sendFile)
	a.POST("/group", s.limitBody(s.opts.MaxJSONBytes), s.group)
	s.contentRoutes(a)
	a.GET("/messages", s.messages)
	a.GET("/webhook", s.getWebhook)
	a.POST("/webhook", s.limitBody(s.opts.MaxJSONBytes), s.setWebhook)
	a.GET("/settings/ackNotificationsOn", s.ackNotifications)
	a.POST("/settings/ackNotificationsOn", s.limitBody(s.opts.MaxJSONBytes), s.ackNotifications)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		a.Handle(method, "/logout", s.logout)
		a.Handle(method, "/reboot", s.reboot)
		a.Handle(method, "/clearMessagesQueue", s.clearQueue)
	}
	a.GET("/settings", s.getSettings)
	a.POST("/settings", s.limitBody(s.opts.MaxJSONBytes), s.setSettings)
	a.GET("/instanceStatuses", s.instanceStatuses)
	s.refRoutes(a)
	a.GET("/showMessagesQueue", s.showQueue)
	a.GET("/webhookStatus", s.webhookStatus)
	if s.opts.Events != nil {
		a.GET("/events", gin.WrapH(s.opts.Events))
	}
	s.chatRoutes(a)
	s.groupRoutes(a)
	return r
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// readyz reports ready while the server can serve: its database answers and its WhatsApp
// connection, if it has one, is not stale (it stopped answering and is being remade). Other
// account state is in /status, not here, so a logged-out account does not take the pod out of
// its Service.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.opts.Store.DB().PingContext(ctx); err != nil {
		abort(c, http.StatusServiceUnavailable, "database unavailable")
		return
	}
	if l, ok := s.opts.Engine.(account.Liveness); ok {
		if stale, why := l.Stale(); stale {
			abort(c, http.StatusServiceUnavailable, "WhatsApp connection stale: %s", why)
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// DefaultPublicURL is the PublicURL when none is given: this server on its default port.
const DefaultPublicURL = "http://localhost:8080"

// mediaBase returns the absolute base of media links: always PublicURL, never the request's Host
// header (which the client chooses).
func (s *Server) mediaBase(*gin.Context) string { return s.opts.PublicURL }

// validatePublicURL accepts an absolute http(s) URL without credentials, query or fragment.
func validatePublicURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("api: public URL %q must be an absolute http(s) URL without credentials, query or fragment", raw)
	}
	return nil
}

// RewriteMedia returns a function that makes the server-relative media links of messages absolute
// under base (for webhook payloads).
func RewriteMedia(base string) func(*chat.Message) {
	base = strings.TrimRight(base, "/")
	return func(m *chat.Message) {
		if strings.HasPrefix(m.Body, "/media/") {
			m.Body = base + m.Body
		}
	}
}
