// Package testenv is what the tests share: a real Kubernetes control plane (envtest's
// kube-apiserver and etcd, built by hack/envtest-bins.sh and found through KUBEBUILDER_ASSETS) with
// the repository's CRDs installed, fresh namespaces, polling with a deadline, free ports, and the
// rule for a missing dependency: skip, but fail under CI=true.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// AssetsHint says how to provide the envtest binaries.
const AssetsHint = "run `make test` (it builds kube-apiserver and etcd with hack/envtest-bins.sh) " +
	"or export KUBEBUILDER_ASSETS=$(hack/envtest-bins.sh)"

// Options says what Start installs and how it talks to the API server.
type Options struct {
	// CRDDirs are directories of CRD manifests; empty: the repository's config/crd/bases.
	CRDDirs []string
	// CRDs are further CRDs to install.
	CRDs []*apiextensionsv1.CustomResourceDefinition
	// NewScheme makes the Client's scheme; nil: client-go's.
	NewScheme func() (*k8sruntime.Scheme, error)
	// APIServerFlags are set on the kube-apiserver's command line.
	APIServerFlags map[string]string
	// Unthrottled turns client-go's client-side rate limiter off (Config.QPS = -1) for Config and
	// Client.
	Unthrottled bool
}

// Env is a running control plane.
type Env struct {
	// Environment is envtest's handle (AddUser, Stop).
	Environment *envtest.Environment
	// Config is an admin client configuration.
	Config *rest.Config
	// Client is an admin client with the scheme of Options.NewScheme.
	Client client.Client
}

// RepoRoot is the repository's root directory, from this file's place in the source tree.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Unavailable says why the envtest binaries cannot be used; "" when KUBEBUILDER_ASSETS names a
// directory holding kube-apiserver and etcd.
func Unavailable() string {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		return "KUBEBUILDER_ASSETS is unset: " + AssetsHint
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return fmt.Sprintf("KUBEBUILDER_ASSETS=%s holds no %s: %s", dir, bin, AssetsHint)
		}
	}
	return ""
}

// Start starts a control plane and installs the CRDs.
func Start(opts Options) (*Env, error) {
	if why := Unavailable(); why != "" {
		return nil, errors.New(why)
	}
	dirs := opts.CRDDirs
	if len(dirs) == 0 {
		dirs = []string{filepath.Join(RepoRoot(), "config", "crd", "bases")}
	}
	env := &envtest.Environment{CRDDirectoryPaths: dirs, CRDs: opts.CRDs, ErrorIfCRDPathMissing: true}
	for k, v := range opts.APIServerFlags {
		env.ControlPlane.GetAPIServer().Configure().Set(k, v)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd (KUBEBUILDER_ASSETS=%q): %w", os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	if opts.Unthrottled {
		cfg.QPS, cfg.Burst = -1, 0
	}
	var scheme *k8sruntime.Scheme
	if opts.NewScheme != nil {
		if scheme, err = opts.NewScheme(); err != nil {
			_ = env.Stop()
			return nil, fmt.Errorf("scheme: %w", err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("admin client: %w", err)
	}
	return &Env{Environment: env, Config: cfg, Client: c}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error {
	if err := e.Environment.Stop(); err != nil {
		return fmt.Errorf("stopping envtest: %w", err)
	}
	return nil
}

// WriteKubeconfig writes, at path, a kubeconfig of a new system:masters user named user.
func (e *Env) WriteKubeconfig(user, path string) error {
	u, err := e.Environment.AddUser(envtest.User{Name: user, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding user %s: %w", user, err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig of %s: %w", user, err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// StartForTest starts a control plane for one test and stops it when the test ends; without the
// envtest binaries it skips the test (see Missing).
func StartForTest(t testing.TB, opts Options) *Env {
	t.Helper()
	if why := Unavailable(); why != "" {
		Missing(t, why)
	}
	e, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Log(err)
		}
	})
	return e
}
