package cmd

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
)

// runRoot runs the binary's root command with args and returns its output.
func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := Root()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestKubectlCommand drives `messenger-operator kubectl …` through cobra against a real API
// server (envtest), with a kubeconfig file and the MESSENGER_NAMESPACE environment twin.
func TestKubectlCommand(t *testing.T) {
	if _, err := runRoot(t, "kubectl", "qr"); err == nil {
		t.Fatal("qr without a name accepted")
	}
	env := testenv.StartForTest(t, testenv.Options{NewScheme: controllers.NewScheme})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := env.WriteKubeconfig("admin", kubeconfig); err != nil {
		t.Fatal(err)
	}
	k8s := env.Client
	ctx := context.Background()
	const ns = "kubectl-test"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sales"}}
	if err := k8s.Create(ctx, mi); err != nil {
		t.Fatal(err)
	}

	out, err := runRoot(t, "kubectl", "--kubeconfig", kubeconfig, "-n", ns, "status")
	if err != nil || !strings.Contains(out, "NAME") || !strings.Contains(out, "sales") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	t.Setenv("MESSENGER_NAMESPACE", ns)
	t.Setenv("MESSENGER_KUBECONFIG", kubeconfig)
	if out, err = runRoot(t, "kubectl", "reboot", "sales"); err != nil {
		t.Fatalf("reboot: %v\n%s", err, out)
	}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(mi), mi); err != nil {
		t.Fatal(err)
	}
	if mi.Annotations[v1alpha1.RebootAnnotation] == "" {
		t.Fatalf("reboot did not set the annotation: %v", mi.Annotations)
	}
	if out, err = runRoot(t, "kubectl", "qr", "sales"); err == nil || !strings.Contains(err.Error(), "no QR code yet") {
		t.Fatalf("qr without a code: %v\n%s", err, out)
	}
	if out, err = runRoot(t, "kubectl", "send", "sales", "--to", "15550001111"); err == nil {
		t.Fatalf("send without --text accepted:\n%s", out)
	}
	if out, err = runRoot(t, "kubectl", "send", "sales", "--to", "15550001111", "--location", "91,0"); err == nil || !strings.Contains(err.Error(), "outside -90..90") {
		t.Fatalf("send --location 91,0: %v\n%s", err, out)
	}
	if out, err = runRoot(t, "kubectl", "send", "sales", "--to", "15550001111", "--location", "1,2", "--file", "x.png"); err == nil || !strings.Contains(err.Error(), "location") {
		t.Fatalf("send --location with --file: %v\n%s", err, out)
	}
}
