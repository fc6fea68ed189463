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
// finalizers, and the account state the instance writes (with spec.hibernation also its message
// counters, which are activity). The instance's frequent writes of QR
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
	// Messages in or out and queued sends are activity that keeps a hibernating instance awake.
	if n.Spec.Hibernation != nil && (o.Status.LastMessageNumber != n.Status.LastMessageNumber ||
		(o.Status.QueueLength > 0) != (n.Status.QueueLength > 0)) {
		return true
	}
	// The instance's Authenticated condition feeds Ready. The operator's own status fields are
	// left out: reacting to its own writes would double every reconcile.
	a := meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionAuthenticated)
	b := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.ConditionAuthenticated)
	return (a == nil) != (b == nil) || a != nil && (a.Status != b.Status || a.Reason != b.Reason)
}

// childChange lets through updates and deletions of children (drift, rollout progress) but not
// their creation: the operator created them itself, and on start-up every instance is
// reconciled anyway from the MessengerInstance watch.
func childChange() predicate.Predicate {
	return predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }}
}
