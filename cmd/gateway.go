//go:build !instanceonly

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
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/messenger-operator/messenger-operator/gateway"
)

func init() { extraCommands = append(extraCommands, gatewayCommand) }

// gatewayFlags are the flags of `messenger-operator gateway`.
type gatewayFlags struct {
	listen, opsListen, kubeconfig string
	namespaces                    []string
	keyRate, instanceRate         float64
	keyBurst, instanceBurst       int
	wakeTimeout, activityInterval time.Duration
}

func gatewayCommand() *cobra.Command {
	var fl gatewayFlags
	c := &cobra.Command{
		Use:   "gateway",
		Short: "Run the front door: one HTTP entry routing /<namespace>/<name>/ and /instance<id>/ to instances",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := bindEnv(c.Flags()); err != nil {
				return err
			}
			return runGateway(c.Context(), fl)
		},
	}
	f := c.Flags()
	f.StringVar(&fl.listen, "listen", ":8080", "address of the gateway's API")
	f.StringVar(&fl.opsListen, "ops-listen", ":8081", "address of /healthz, /readyz and /metrics (empty disables it)")
	f.StringVar(&fl.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	f.StringSliceVar(&fl.namespaces, "namespaces", nil, "comma-separated namespaces to route (empty = all)")
	f.Float64Var(&fl.keyRate, "key-rate", 20, "requests/s of each API key (and of the instance token's callers) unless the key's Secret sets rate; 0 = no limit")
	f.IntVar(&fl.keyBurst, "key-burst", 40, "burst of each API key unless the key's Secret sets burst")
	f.Float64Var(&fl.instanceRate, "instance-rate", 50, "requests/s to one instance from all callers together; 0 = no limit")
	f.IntVar(&fl.instanceBurst, "instance-burst", 100, "burst of one instance")
	f.DurationVar(&fl.wakeTimeout, "wake-timeout", gateway.DefaultWakeTimeout, "how long a call to a hibernated instance is held while it wakes; then 503 with Retry-After")
	f.DurationVar(&fl.activityInterval, "activity-interval", gateway.DefaultActivityInterval, "least time between two last-call stamps of one hibernating instance (at most a quarter of its idleAfter)")
	return c
}

// runGateway serves until SIGINT or SIGTERM, then drains for up to 10 s.
func runGateway(parent context.Context, fl gatewayFlags) error {
	logHandler := slog.NewJSONHandler(os.Stderr, nil)
	log := slog.New(logHandler)
	ctrl.SetLogger(logr.FromSlogHandler(logHandler))
	cfg, err := kubeConfig(fl.kubeconfig)
	if err != nil {
		return err
	}
	g, err := gateway.New(cfg, gateway.Options{
		Namespaces:       fl.namespaces,
		KeyLimit:         gateway.Limit{Rate: fl.keyRate, Burst: fl.keyBurst},
		InstanceLimit:    gateway.Limit{Rate: fl.instanceRate, Burst: fl.instanceBurst},
		Logger:           log,
		WakeTimeout:      fl.wakeTimeout,
		ActivityInterval: fl.activityInterval,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := g.Start(ctx); err != nil {
		return err
	}
	servers := []*http.Server{{Addr: fl.listen, Handler: g, ReadHeaderTimeout: 30 * time.Second}}
	if fl.opsListen != "" {
		servers = append(servers, &http.Server{Addr: fl.opsListen, Handler: g.OpsHandler(), ReadHeaderTimeout: 10 * time.Second})
	}
	errc := make(chan error, len(servers))
	for _, s := range servers {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", s.Addr, err)
		}
		log.Info("Gateway listening", "address", ln.Addr().String(), "version", Version)
		go func() { errc <- s.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("gateway server: %w", err)
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdownCtx)
	}
	return nil
}
