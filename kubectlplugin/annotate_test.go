package kubectlplugin_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/kubectlplugin"
)

func TestRequestSetsAnnotationsOnce(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	ns := newNamespace(t)
	p, out := newPlugin(ns)
	createInstance(t, ns, "sales", map[string]string{"team": "sales"}, v1alpha1.MessengerInstanceStatus{})

	first, err := p.Request(ctx, "sales", kubectlplugin.Reboot, 0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Request(ctx, "sales", kubectlplugin.Reboot, 0)
	if err != nil {
		t.Fatal(err)
	}
	if first == second {
		t.Fatalf("two reboot requests share the value %q: the second would be ignored", first)
	}
	logout, err := p.Request(ctx, "sales", kubectlplugin.Logout, 0)
	if err != nil {
		t.Fatal(err)
	}
	mi := &v1alpha1.MessengerInstance{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sales"}, mi); err != nil {
		t.Fatal(err)
	}
	a := mi.Annotations
	if a[v1alpha1.RebootAnnotation] != second || a[v1alpha1.LogoutAnnotation] != logout || a["team"] != "sales" {
		t.Fatalf("annotations %v: want reboot=%s, logout=%s and the user's team=sales kept", a, second, logout)
	}
	if !strings.Contains(out.String(), "messengerinstance/sales reboot requested") {
		t.Fatalf("output: %q", out.String())
	}
	if _, err := p.Request(ctx, "nobody", kubectlplugin.Logout, 0); !apierrors.IsNotFound(err) {
		t.Fatalf("request on a missing instance: %v, want NotFound", err)
	}
	if _, err := p.Request(ctx, "sales", kubectlplugin.Action("delete"), 0); err == nil {
		t.Fatal("unknown action accepted")
	}
}

// TestRequestWaitsForAcknowledgement plays the operator: it records the annotation's value in
// status.lastHandledReboot, which ends the plugin's wait.
func TestRequestWaitsForAcknowledgement(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	ns := newNamespace(t)
	p, out := newPlugin(ns)
	createInstance(t, ns, "sales", nil, v1alpha1.MessengerInstanceStatus{})
	acked := make(chan error, 1)
	go func() {
		for {
			mi := &v1alpha1.MessengerInstance{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sales"}, mi); err != nil {
				acked <- err
				return
			}
			if v := mi.Annotations[v1alpha1.RebootAnnotation]; v != "" {
				mi.Status.LastHandledReboot = v
				acked <- k8s.Status().Update(ctx, mi)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if _, err := p.Request(ctx, "sales", kubectlplugin.Reboot, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := <-acked; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "messengerinstance/sales reboot done") {
		t.Fatalf("output: %q", out.String())
	}
}
