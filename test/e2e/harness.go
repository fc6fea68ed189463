// Package e2e is the end-to-end harness of Messenger Operator, a test and development tool: it
// starts a real kube-apiserver and etcd (the envtest binaries), installs the CRD, runs the
// operator in-process and a sandbox network, and plays the node for instance StatefulSets (see
// Node): each instance pod runs as a local `messenger-operator instance` process launched from
// the pod template itself. `make dev` and the e2e test both use it.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// Options configure a Harness.
type Options struct {
	// RepoRoot is the repository (for config/crd/bases); empty: found from the working directory.
	RepoRoot string
	// Binary is the messenger-operator binary that instance pods run.
	Binary string
	// Dir holds pod folders, volumes, logs and kubeconfigs; empty: a new temporary folder,
	// removed by Stop.
	Dir string
	// SandboxListen is the sandbox's address (default 127.0.0.1:0, a free port).
	SandboxListen string
	// InstanceImage is the operator's --instance-image (any name: the node runs Binary).
	InstanceImage string
	// Logger receives the harness's and the operator's logs.
	Logger *slog.Logger
	// ProbeEvery is how often the node runs each pod's readiness probe (zero: 500 ms, faster
	// than the template's period so that tests see readiness promptly; fleet benchmarks set
	// the kubelet's pace).
	ProbeEvery time.Duration

	removeDir bool // Dir was made by the harness: Stop removes it
}

// Harness is a running control plane, operator, sandbox and node.
type Harness struct {
	opts Options
	env  *testenv.Env
	// Config is an admin client configuration for the API server.
	Config *rest.Config
	// Client is an admin client.
	Client client.Client
	// Kubeconfig is the path of an admin kubeconfig file (for kubectl).
	Kubeconfig string
	// Sandbox is the sandbox network instances connect to.
	Sandbox *sandbox.Server
	// Node runs the instance pods.
	Node *Node

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start brings everything up; Stop tears it down.
func Start(ctx context.Context, opts Options) (h *Harness, err error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	started := &Harness{opts: opts}
	h = started
	defer func() {
		if err != nil {
			_ = started.Stop() // h is nil by then
		}
	}()
	h.env, err = testenv.Start(testenv.Options{
		CRDDirs:     []string{filepath.Join(opts.RepoRoot, "config", "crd", "bases")},
		NewScheme:   controllers.NewScheme,
		Unthrottled: true,
		// envtest's default Service range (a /24) holds about 250 ClusterIPs: too few for a fleet.
		APIServerFlags: map[string]string{"service-cluster-ip-range": "10.96.0.0/16"},
	})
	if err != nil {
		return nil, err
	}
	h.Config, h.Client = h.env.Config, h.env.Client
	if h.Kubeconfig, err = h.writeAdminKubeconfig(); err != nil {
		return nil, err
	}
	if h.Sandbox, err = sandbox.Start(ctx, sandbox.Options{Listen: opts.SandboxListen, Logger: opts.Logger.With("component", "sandbox")}); err != nil {
		return nil, fmt.Errorf("starting the sandbox: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancel = cancel
	if h.Node, err = newNode(h.Config, h.Client, opts); err != nil {
		return nil, err
	}
	if err := h.startManagers(runCtx); err != nil {
		return nil, err
	}
	return h, nil
}

// defaults fills in the options.
func (o *Options) defaults() error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Binary == "" {
		return errors.New("e2e harness: Options.Binary (the messenger-operator binary) is required")
	}
	if o.RepoRoot == "" {
		root, err := findRepoRoot()
		if err != nil {
			return err
		}
		o.RepoRoot = root
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "messenger-e2e-")
		if err != nil {
			return fmt.Errorf("harness folder: %w", err)
		}
		o.Dir, o.removeDir = dir, true
	}
	if o.SandboxListen == "" {
		o.SandboxListen = "127.0.0.1:0"
	}
	if o.InstanceImage == "" {
		o.InstanceImage = "messenger-operator:e2e"
	}
	return nil
}

// startManagers runs the operator (its own manager, as in production) and the node.
func (h *Harness) startManagers(ctx context.Context) error {
	ctrl.SetLogger(logrOf(h.opts.Logger.With("component", "operator")))
	op, err := controllers.NewManager(h.Config, controllers.ManagerOptions{
		MetricsBindAddress: "0", HealthProbeBindAddress: "0", MaxConcurrentReconciles: 4,
		InstanceImage: h.opts.InstanceImage, LogoutGracePeriod: 30 * time.Second,
		// Tests may start more than one harness in a process.
		MetricsRegistry: prometheus.NewRegistry(), SecondInProcess: true,
		// The operator reaches instances at their Service URL; the node resolves it to the process.
		Instances: controllers.HTTPInstanceClient{HTTP: &http.Client{Transport: &http.Transport{DialContext: h.Node.DialContext}}},
	})
	if err != nil {
		return fmt.Errorf("operator: %w", err)
	}
	nodeMgr, err := h.Node.manager()
	if err != nil {
		return err
	}
	for name, run := range map[string]func(context.Context) error{"operator": op.Start, "node": nodeMgr.Start} {
		h.wg.Go(func() {
			if err := run(ctx); err != nil {
				h.opts.Logger.Error("harness component stopped", "component", name, "error", err)
			}
		})
	}
	return nil
}

// Dir is the harness's folder (pods, volumes, logs, kubeconfigs).
func (h *Harness) Dir() string { return h.opts.Dir }

// Stop stops the instance processes, the operator, the sandbox and the control plane.
func (h *Harness) Stop() error {
	var errs []error
	if h.cancel != nil {
		h.cancel()
		h.wg.Wait()
	}
	if h.Node != nil {
		h.Node.stopAll() // while the API server still runs: instances release their Leases
	}
	if h.Sandbox != nil {
		errs = append(errs, h.Sandbox.Close())
	}
	if h.env != nil {
		errs = append(errs, h.env.Stop())
	}
	if h.opts.removeDir {
		errs = append(errs, os.RemoveAll(h.opts.Dir))
	}
	return errors.Join(errs...)
}

// findRepoRoot walks up from the working directory to the folder holding go.mod.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("e2e harness: no go.mod above the working directory; set Options.RepoRoot")
		}
		dir = parent
	}
}
