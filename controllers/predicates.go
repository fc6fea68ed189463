package controllers

import (
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// relevantChange lets through the updates of a MessengerInstance that can change what the
// operator does or reports: spec (generation), annotations (reboot requests), deletion,
// finalizers, and the account state the instance writes. The instance's frequent writes of QR
// codes, queue length and message numbers are filtered out, so they cost no reconcile.
func relevantChange() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldMI, okOld := e.ObjectOld.(*v1alpha1.MessengerInstance)
			newMI, okNew := e.ObjectNew.(*v1alpha1.MessengerInstance)
			if !okOld || !okNew {
				return true
			}
			return relevantUpdate(oldMI, newMI)
		},
	}
}

// relevantUpdate is the pure rule behind relevantChange.
func relevantUpdate(o, n *v1alpha1.MessengerInstance) bool {
	if o.Generation != n.Generation ||
		!maps.Equal(o.Annotations, n.Annotations) ||
		!o.DeletionTimestamp.Equal(n.DeletionTimestamp) ||
		!slices.Equal(o.Finalizers, n.Finalizers) ||
		o.Status.AccountStatus != n.Status.AccountStatus {
		return true
	}
	// The operator-owned status must stay as it wrote it, and the instance's Authenticated
	// condition feeds Ready.
	for _, t := range []string{v1alpha1.ConditionAuthenticated, v1alpha1.ConditionReady, v1alpha1.ConditionReconciling, v1alpha1.ConditionStalled} {
		a, b := meta.FindStatusCondition(o.Status.Conditions, t), meta.FindStatusCondition(n.Status.Conditions, t)
		if (a == nil) != (b == nil) || a != nil && (a.Status != b.Status || a.Reason != b.Reason || a.Message != b.Message) {
			return true
		}
	}
	return o.Status.ObservedGeneration != n.Status.ObservedGeneration ||
		o.Status.LastHandledReboot != n.Status.LastHandledReboot ||
		o.Status.Endpoint != n.Status.Endpoint ||
		o.Status.TokenSecretName != n.Status.TokenSecretName
}
