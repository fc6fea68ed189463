package kubectlplugin_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/kubectlplugin"
)

// The plugin's tests run against a real kube-apiserver and etcd (envtest) with the CRD installed;
// no operator runs, so tests write status themselves where the operator or instance would.
var (
	k8s        client.Client
	envSkipped string
	nsCounter  atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		envSkipped = "KUBEBUILDER_ASSETS is unset: run `make test` (it builds kube-apiserver and etcd with hack/envtest-bins.sh) " +
			"or export KUBEBUILDER_ASSETS=$(hack/envtest-bins.sh)"
		return m.Run()
	}
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
	scheme, err := controllers.NewScheme()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func requireEnv(t *testing.T) {
	t.Helper()
	if envSkipped != "" {
		t.Skip(envSkipped)
	}
}

// newNamespace creates a fresh namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("plugin-%d-%d", time.Now().UnixNano()%1e6, nsCounter.Add(1))
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// newPlugin returns a plugin for namespace ns writing into a buffer, with a clock that moves one
// second per call.
func newPlugin(ns string) (*kubectlplugin.Plugin, *bytes.Buffer) {
	out := &bytes.Buffer{}
	var tick atomic.Int64
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	return &kubectlplugin.Plugin{Client: k8s, Namespace: ns, Out: out,
		Now: func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Second) }}, out
}

// createInstance creates a MessengerInstance and writes status as the operator and instance would.
func createInstance(t *testing.T, ns, name string, annotations map[string]string, st v1alpha1.MessengerInstanceStatus) *v1alpha1.MessengerInstance {
	t.Helper()
	ctx := context.Background()
	mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations}}
	if err := k8s.Create(ctx, mi); err != nil {
		t.Fatal(err)
	}
	mi.Status = st
	if err := k8s.Status().Update(ctx, mi); err != nil {
		t.Fatalf("writing status: %v", err)
	}
	return mi
}

func readyCondition(status metav1.ConditionStatus, reason string) []metav1.Condition {
	return []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: status, Reason: reason, Message: "m",
		LastTransitionTime: metav1.Now()}}
}
