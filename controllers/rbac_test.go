package controllers_test

import (
	"context"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// instanceClient returns a client that authenticates as the instance's ServiceAccount with a
// token from the TokenRequest API, as the pod would.
func instanceClient(t *testing.T, ns, sa string) client.Client {
	t.Helper()
	var tok *authenticationv1.TokenRequest
	eventually(t, "TokenRequest for "+sa, func() error {
		tok = &authenticationv1.TokenRequest{}
		return k8s.SubResource("token").Create(context.Background(),
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}, tok)
	})
	cfg := rest.AnonymousClientConfig(restConfig)
	cfg.BearerToken = tok.Status.Token
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInstanceServiceAccountRBAC(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	ctx := context.Background()
	createInstance(t, ns, "frank", nil)
	createInstance(t, ns, "grace", nil)
	for _, n := range []string{"frank", "grace"} {
		eventually(t, "RoleBinding of "+n, func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: n + "-instance"}, &rbacv1.RoleBinding{})
		})
	}
	frank := instanceClient(t, ns, "frank-instance")

	// Allowed: read its own resource, patch its own status, hold its own Lease.
	eventually(t, "own status patch", func() error {
		return simulateAgent(t, frank, ns, "frank", "got qr code", false)
	})
	own := &v1alpha1.MessengerInstance{}
	if err := frank.Get(ctx, client.ObjectKey{Namespace: ns, Name: "frank"}, own); err != nil {
		t.Errorf("get own instance: %v", err)
	}
	if own.Status.AccountStatus != "got qr code" || meta.FindStatusCondition(own.Status.Conditions, v1alpha1.ConditionAuthenticated) == nil {
		t.Errorf("own status not written: %+v", own.Status)
	}
	lease := &coordinationv1.Lease{}
	if err := frank.Get(ctx, client.ObjectKey{Namespace: ns, Name: "frank-lease"}, lease); err != nil {
		t.Fatalf("get own Lease: %v", err)
	}
	holder := "frank-0"
	lease.Spec.HolderIdentity = &holder
	if err := frank.Update(ctx, lease); err != nil {
		t.Errorf("update own Lease: %v", err)
	}

	// Forbidden: the other instance, its status and Lease, its own spec, Secrets, listing all.
	forbidden := map[string]error{
		"get other instance": frank.Get(ctx, client.ObjectKey{Namespace: ns, Name: "grace"}, &v1alpha1.MessengerInstance{}),
		"patch other status": simulateAgent(t, frank, ns, "grace", "authenticated", true),
		"get other Lease":    frank.Get(ctx, client.ObjectKey{Namespace: ns, Name: "grace-lease"}, &coordinationv1.Lease{}),
		"read token Secret":  frank.Get(ctx, client.ObjectKey{Namespace: ns, Name: "frank-token"}, &corev1.Secret{}),
		"list instances":     frank.List(ctx, &v1alpha1.MessengerInstanceList{}, client.InNamespace(ns)),
		"update own spec": func() error {
			own.Spec.Suspend = true
			return frank.Update(ctx, own)
		}(),
		"delete own instance": frank.Delete(ctx, &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "frank"}}),
	}
	for what, err := range forbidden {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: err = %v, want Forbidden", what, err)
		}
	}
	other := getInstance(t, ns, "grace")
	if other.Status.AccountStatus != "" {
		t.Errorf("other instance's status was changed: %q", other.Status.AccountStatus)
	}
}
