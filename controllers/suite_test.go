package controllers_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
)

// Shared envtest control plane: a real kube-apiserver and etcd (built by hack/envtest-bins.sh and
// found through KUBEBUILDER_ASSETS) with the operator's manager running against it.
var (
	k8s        client.Client
	testEnv    *envtest.Environment
	restConfig *rest.Config
	scheme     *runtime.Scheme
	instances  = &fakeInstances{fail: map[string]error{}}
	envSkipped string
	nsCounter  atomic.Int64
)

// logoutGrace is short so that the "instance never answers" case ends quickly.
const logoutGrace = 3 * time.Second

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		envSkipped = "KUBEBUILDER_ASSETS is unset: run `make test` (it builds kube-apiserver and etcd with hack/envtest-bins.sh) " +
			"or export KUBEBUILDER_ASSETS=$(hack/envtest-bins.sh)"
		return m.Run()
	}
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})))
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest: %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	testEnv, restConfig = env, cfg
	if scheme, err = controllers.NewScheme(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := controllers.NewManager(cfg, controllers.ManagerOptions{
		MetricsBindAddress:      "0",
		HealthProbeBindAddress:  "0",
		MaxConcurrentReconciles: 4,
		InstanceImage:           "messenger-operator:test",
		Instances:               instances,
		LogoutGracePeriod:       logoutGrace,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		}
	}()
	code := m.Run()
	cancel()
	wg.Wait()
	return code
}

// logLevel keeps controller logs quiet unless TEST_VERBOSE_OPERATOR is set.
func logLevel() slog.Level {
	if os.Getenv("TEST_VERBOSE_OPERATOR") != "" {
		return slog.LevelDebug
	}
	return slog.LevelError
}

// requireEnv skips a test that needs the control plane when it is not available.
func requireEnv(t *testing.T) {
	t.Helper()
	if envSkipped != "" {
		t.Skip(envSkipped)
	}
}

// newNamespace creates a fresh namespace per test (envtest never finishes deleting namespaces).
func newNamespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("test-%d-%d", time.Now().UnixNano()%1e6, nsCounter.Add(1))
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return name
}

// eventually polls check until it returns nil, failing the test with the last error after a
// generous deadline (a bound against hangs, not a timing assertion).
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

// kstatusOf computes the kstatus result of a MessengerInstance as Flux and Argo-style tools would.
func kstatusOf(t *testing.T, mi *v1alpha1.MessengerInstance) status.Status {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(mi)
	if err != nil {
		t.Fatalf("to unstructured: %v", err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		t.Fatalf("kstatus: %v", err)
	}
	return res.Status
}

// fakeInstances is the test double of controllers.InstanceClient: it records logout calls and
// fails for endpoints listed in fail.
type fakeInstances struct {
	mu    sync.Mutex
	calls []logoutCall
	fail  map[string]error
}

type logoutCall struct{ endpoint, token string }

func (f *fakeInstances) Logout(_ context.Context, endpoint, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, logoutCall{endpoint, token})
	return f.fail[endpoint]
}

func (f *fakeInstances) setFail(endpoint string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[endpoint] = err
}

func (f *fakeInstances) callsTo(endpoint string) []logoutCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []logoutCall
	for _, c := range f.calls {
		if c.endpoint == endpoint {
			out = append(out, c)
		}
	}
	return out
}
