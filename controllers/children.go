package controllers

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	coordinationv1ac "k8s.io/client-go/applyconfigurations/coordination/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// BuildService returns the ClusterIP Service in front of the instance's HTTP API (port 8080).
func BuildService(mi *v1alpha1.MessengerInstance) *corev1ac.ServiceApplyConfiguration {
	return corev1ac.Service(ServiceName(mi), mi.Namespace).
		WithLabels(Labels(mi)).
		WithOwnerReferences(ownerReference(mi)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(selectorLabels(mi)).
			WithPorts(corev1ac.ServicePort().
				WithName("http").
				WithPort(HTTPPort).
				WithTargetPort(intstr.FromString("http")).
				WithProtocol(corev1.ProtocolTCP)))
}

// BuildTokenSecret returns the generated token Secret holding token. The controller creates it
// once and never overwrites it.
func BuildTokenSecret(mi *v1alpha1.MessengerInstance, token string) *corev1.Secret {
	t := true
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      GeneratedTokenSecretName(mi),
			Namespace: mi.Namespace,
			Labels:    Labels(mi),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         v1alpha1.GroupVersion.String(),
				Kind:               "MessengerInstance",
				Name:               mi.Name,
				UID:                mi.UID,
				Controller:         &t,
				BlockOwnerDeletion: &t,
			}},
		},
		Type:      corev1.SecretTypeOpaque,
		Immutable: &t,
		Data:      map[string][]byte{DefaultTokenKey: []byte(token)},
	}
}

// BuildServiceAccount returns the ServiceAccount the instance pod runs as.
func BuildServiceAccount(mi *v1alpha1.MessengerInstance) *corev1ac.ServiceAccountApplyConfiguration {
	return corev1ac.ServiceAccount(ServiceAccountName(mi), mi.Namespace).
		WithLabels(Labels(mi)).
		WithOwnerReferences(ownerReference(mi))
}

// BuildRole returns the instance's Role: read its own MessengerInstance, write its status, hold
// its Lease, and record events. resourceNames limit every rule but events (create cannot be
// limited by name) to this instance's objects.
func BuildRole(mi *v1alpha1.MessengerInstance) *rbacv1ac.RoleApplyConfiguration {
	group := v1alpha1.GroupVersion.Group
	return rbacv1ac.Role(ServiceAccountName(mi), mi.Namespace).
		WithLabels(Labels(mi)).
		WithOwnerReferences(ownerReference(mi)).
		WithRules(
			rbacv1ac.PolicyRule().WithAPIGroups(group).WithResources("messengerinstances").
				WithResourceNames(mi.Name).WithVerbs("get", "list", "watch"),
			rbacv1ac.PolicyRule().WithAPIGroups(group).WithResources("messengerinstances/status").
				WithResourceNames(mi.Name).WithVerbs("get", "patch", "update"),
			rbacv1ac.PolicyRule().WithAPIGroups("coordination.k8s.io").WithResources("leases").
				WithResourceNames(LeaseName(mi)).WithVerbs("get", "list", "watch", "update", "patch"),
			rbacv1ac.PolicyRule().WithAPIGroups("", "events.k8s.io").WithResources("events").
				WithVerbs("create", "patch"),
		)
}

// BuildRoleBinding binds the instance's Role to its ServiceAccount.
func BuildRoleBinding(mi *v1alpha1.MessengerInstance) *rbacv1ac.RoleBindingApplyConfiguration {
	return rbacv1ac.RoleBinding(ServiceAccountName(mi), mi.Namespace).
		WithLabels(Labels(mi)).
		WithOwnerReferences(ownerReference(mi)).
		WithRoleRef(rbacv1ac.RoleRef().
			WithAPIGroup(rbacv1.GroupName).
			WithKind("Role").
			WithName(ServiceAccountName(mi))).
		WithSubjects(rbacv1ac.Subject().
			WithKind(rbacv1.ServiceAccountKind).
			WithName(ServiceAccountName(mi)).
			WithNamespace(mi.Namespace))
}

// BuildLease returns the instance's Lease with metadata only: the operator owns its labels and
// owner reference, the instance owns its spec (holder, renew time), so applying this never
// disturbs the holder.
func BuildLease(mi *v1alpha1.MessengerInstance) *coordinationv1ac.LeaseApplyConfiguration {
	return coordinationv1ac.Lease(LeaseName(mi), mi.Namespace).
		WithLabels(Labels(mi)).
		WithOwnerReferences(ownerReference(mi))
}
