package controllers_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
)

// Shared envtest control plane: a real kube-apiserver and etcd (built by hack/envtest-bins.sh and
// found through KUBEBUILDER_ASSETS) with the operator's manager running against it.
var (
	k8s        client.Client
	testEnv    *envtest.Environment
	restConfig *rest.Config
	scheme     *runtime.Scheme
	instances  = &fakeInstances{fail: map[string]error{}}
	// hibClock is the operator's clock for hibernation decisions: tests step it (only instances
	// with spec.hibernation read it).
	hibClock   = clocktesting.NewFakeClock(time.Now())
	reconciles = &reconcileCounter{n: map[types.NamespacedName]int{}}
)

// collectWindow is the operator's --hibernation-collect-window in these tests.
const collectWindow = 2 * time.Minute

// logoutGrace is short so that the "instance never answers" case ends quickly.
const logoutGrace = 3 * time.Second

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{NewScheme: controllers.NewScheme}, startManager))
}

// startManager runs the operator's manager against the control plane until the tests end.
func startManager(env *testenv.Env) (func(), error) {
	testEnv, restConfig, k8s, scheme = env.Environment, env.Config, env.Client, env.Client.Scheme()
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})))
	mgr, err := controllers.NewManager(env.Config, controllers.ManagerOptions{
		MetricsBindAddress:       "0",
		HealthProbeBindAddress:   "0",
		MaxConcurrentReconciles:  4,
		InstanceImage:            "messenger-operator:test",
		Instances:                instances,
		LogoutGracePeriod:        logoutGrace,
		Clock:                    hibClock,
		HibernationCollectWindow: collectWindow,
		OnReconcile:              reconciles.add,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		}
	})
	return func() { cancel(); wg.Wait() }, nil
}

// logLevel keeps controller logs quiet unless TEST_VERBOSE_OPERATOR is set.
func logLevel() slog.Level {
	if os.Getenv("TEST_VERBOSE_OPERATOR") != "" {
		return slog.LevelDebug
	}
	return slog.LevelError
}

// requireEnv skips a test that needs the control plane when it is not available (under CI=true
// it fails it).
func requireEnv(t *testing.T) {
	t.Helper()
	testenv.Shared(t)
}

// newNamespace creates a fresh namespace per test.
func newNamespace(t *testing.T) string {
	t.Helper()
	return testenv.Namespace(t, k8s, "test")
}

// eventually polls check until it returns nil, failing the test with the last error after a
// generous deadline (a bound against hangs, not a timing assertion).
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, what, check)
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

// reconcileCounter counts the manager's reconciles per MessengerInstance.
type reconcileCounter struct {
	mu sync.Mutex
	n  map[types.NamespacedName]int
}

func (c *reconcileCounter) add(req ctrl.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[req.NamespacedName]++
}

func (c *reconcileCounter) of(key types.NamespacedName) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}
