package controllers_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
)

// TestOperatorClusterRoleSuffices runs a reconcile as a user that holds nothing but the generated
// config/rbac/role.yaml, so a missing +kubebuilder:rbac marker (or a Role granting more than the
// operator holds, which the API server refuses as escalation) fails here rather than in a cluster.
func TestOperatorClusterRoleSuffices(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join("..", "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(raw, role); err != nil {
		t.Fatalf("decoding role.yaml: %v", err)
	}
	role.Name = "test-operator-role"
	if err := k8s.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	user, err := testEnv.AddUser(envtest.User{Name: "test-operator"}, restConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "test-operator"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "test-operator"}},
	}); err != nil {
		t.Fatal(err)
	}
	operator, err := client.New(user.Config(), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	r := &controllers.Reconciler{
		Client:    operator,
		APIReader: operator,
		Recorder:  events.NewFakeRecorder(100),
		Instances: instances,
		Build:     controllers.BuildOptions{DefaultImage: "messenger-operator:test"},
	}

	ns := newNamespace(t)
	createInstance(t, ns, "rbac", func(mi *v1alpha1.MessengerInstance) {
		mi.Spec.DeletionPolicy = v1alpha1.DeletionPolicyLogout
		mi.Annotations = map[string]string{v1alpha1.RebootAnnotation: "1"}
	})
	req := ctrl.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "rbac"}}
	// Twice: the first run may create what the second updates (the shared manager races with it).
	for i := 0; i < 2; i++ {
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatalf("reconcile %d as the operator's ClusterRole: %v", i, err)
		}
	}
	if err := operator.Get(ctx, req.NamespacedName, &appsv1.StatefulSet{}); err != nil {
		t.Errorf("StatefulSet: %v", err)
	}
	if mi := getInstance(t, ns, "rbac"); mi.Status.ObservedGeneration != mi.Generation || mi.Status.LastHandledReboot != "1" {
		t.Errorf("status not written: %+v", mi.Status)
	}
}
