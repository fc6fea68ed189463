package kubectlplugin_test

import (
	"bytes"
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
	"github.com/messenger-operator/messenger-operator/kubectlplugin"
)

// The plugin's tests run against a real kube-apiserver and etcd (envtest) with the CRD installed;
// no operator runs, so tests write status themselves where the operator or instance would.
var k8s client.Client

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{NewScheme: controllers.NewScheme}, func(env *testenv.Env) (func(), error) {
		k8s = env.Client
		return nil, nil
	}))
}

// requireEnv skips a test that needs the control plane when it is not available (under CI=true
// it fails it).
func requireEnv(t *testing.T) {
	t.Helper()
	testenv.Shared(t)
}

// newNamespace creates a fresh namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	return testenv.Namespace(t, k8s, "plugin")
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
