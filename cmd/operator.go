//go:build !instanceonly

package cmd

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
)

func init() { extraCommands = append(extraCommands, operatorCommand) }

// defaultInstanceImage is the instance image when --instance-image is not given: the same
// binary, at the version of this build.
func defaultInstanceImage() string {
	return "ghcr.io/messenger-operator/messenger-operator:" + Version
}

func operatorCommand() *cobra.Command {
	var (
		opts       controllers.ManagerOptions
		kubeconfig string
	)
	c := &cobra.Command{
		Use:   "operator",
		Short: "Run the Kubernetes operator that reconciles MessengerInstances",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := bindEnv(c.Flags()); err != nil {
				return err
			}
			if _, err := fetch.ParsePrefixes(strings.Join(opts.WebhookAllowNetworks, ",")); err != nil {
				return fmt.Errorf("--webhook-allow-networks: %w", err)
			}
			logHandler := slog.NewJSONHandler(os.Stderr, nil)
			slog.SetDefault(slog.New(logHandler))
			ctrl.SetLogger(logr.FromSlogHandler(logHandler))
			cfg, err := kubeConfig(kubeconfig)
			if err != nil {
				return err
			}
			mgr, err := controllers.NewManager(cfg, opts)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			slog.Info("Starting operator", "version", Version, "namespaces", opts.Namespaces, "instanceImage", opts.InstanceImage,
				"webhookAllowNetworks", opts.WebhookAllowNetworks)
			if err := mgr.Start(ctx); err != nil {
				return fmt.Errorf("running operator: %w", err)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", ":8080", "address of the Prometheus /metrics endpoint (0 disables it)")
	f.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes (0 disables them)")
	f.BoolVar(&opts.LeaderElection, "leader-elect", false, "elect a leader so that only one operator replica is active")
	f.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader Lease when running outside a cluster")
	f.StringVar(&opts.InstanceImage, "instance-image", defaultInstanceImage(), "image of instance pods whose spec.image is empty")
	f.StringSliceVar(&opts.Namespaces, "namespaces", nil, "comma-separated namespaces to watch (empty = all)")
	f.StringSliceVar(&opts.WebhookAllowNetworks, "webhook-allow-networks", nil,
		"comma-separated CIDRs every instance may deliver webhooks to although private, e.g. the cluster's Service and Pod CIDRs; spec.webhook.allowNetworks adds to them")
	f.IntVar(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "MessengerInstances reconciled in parallel")
	f.DurationVar(&opts.LogoutGracePeriod, "logout-grace-period", 0, "how long deletion with deletionPolicy Logout waits for the instance (default 2m)")
	f.DurationVar(&opts.HibernationCollectWindow, "hibernation-collect-window", controllers.DefaultCollectWindow, "how long an instance woken by spec.hibernation.wakeEvery stays up once connected, to receive what WhatsApp kept")
	f.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	return c
}
