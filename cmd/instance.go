package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/app"
	"github.com/messenger-operator/messenger-operator/instance/engine"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
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
	events                                                  eventsOptions
	liveness                                                engine.Liveness // no flags: the defaults, shorter in tests
	sqlite                                                  app.SQLiteTuning
	idleTrim                                                time.Duration
}

// memoryFromEnv applies the instance's GC settings (GOGC 50 and a soft limit unless GOGC,
// GOMEMLIMIT or their MESSENGER_ twins say otherwise) and reads the SQLite and idle-trim
// settings of the environment; see instance/app/memory.go. Only the command does this: an
// instance server run in-process (tests) keeps its process's settings.
func (o *instanceOptions) memoryFromEnv() error {
	if _, err := app.ApplyMemorySettings(); err != nil {
		return err
	}
	var err error
	if o.sqlite, err = app.SQLiteTuningFromEnv(os.Getenv); err != nil {
		return err
	}
	o.idleTrim, err = app.IdleTrimFromEnv(os.Getenv)
	return err
}

// serverLimits bound what clients may hold of the HTTP server (flags of `instance`).
type serverLimits struct {
	maxConnections int
	readTimeout    time.Duration
	minBodyRate    int64
	trustedProxies []string
}

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
			if err := o.memoryFromEnv(); err != nil {
				return err
			}
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
	addEventsFlags(f, &o.events)
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
	return api.ValidateWebhookURL(o.webhookURL)
}

// config converts the flags to the instance server's configuration, with errors naming the flags.
func (o instanceOptions) config() (app.Config, error) {
	token, err := o.readToken()
	if err != nil {
		return app.Config{}, err
	}
	if err := o.validate(); err != nil {
		return app.Config{}, err
	}
	allow, err := fetch.ParsePrefixes(o.webhookAllowNetworks)
	if err != nil {
		return app.Config{}, fmt.Errorf("--webhook-allow-networks: %w", err)
	}
	cfg := app.Config{Listen: o.listen, DataDir: o.dataDir, Database: o.database, Token: token,
		NetworkURL: o.networkURL, Proxy: o.proxy, WebhookURL: o.webhookURL, WebhookSecret: o.webhookSecret,
		InstanceName: o.instanceName, Namespace: o.namespace, PodName: o.kube.podName, LeaseName: o.kube.leaseName,
		PublicURL: o.publicURL, AllowPrivate: o.allowPrivate, WebhookAllowNetworks: allow,
		MaxFileBytes: o.maxFileBytes, MaxQueueItems: o.maxQueueItems, MaxQueueBytes: o.maxQueueBytes,
		MediaRetention: o.mediaRetention, WebhookMaxAge: o.webhookMaxAge, ShutdownTimeout: o.shutdownTimeout,
		MaxConnections: o.server.maxConnections, ReadTimeout: o.server.readTimeout, MinBodyRate: o.server.minBodyRate,
		TrustedProxies: o.server.trustedProxies, Liveness: o.liveness, SQLite: o.sqlite, IdleTrim: o.idleTrim}
	if o.kube.ackSet {
		cfg.AckNotifications = &o.kube.ackNotifications
	}
	if err := o.events.apply(&cfg); err != nil {
		return app.Config{}, err
	}
	if o.instanceName != "" && o.namespace != "" {
		if cfg.Kube, err = kubeConfig(o.kube.kubeconfig); err != nil {
			return app.Config{}, fmt.Errorf("kube agent of %s/%s: %w", o.namespace, o.instanceName, err)
		}
	}
	return cfg, nil
}

// runInstance serves until ctx ends, then shuts down gracefully.
func runInstance(ctx context.Context, o instanceOptions, log *slog.Logger, listening func(url string)) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	return app.Run(ctx, cfg, log, listening)
}
