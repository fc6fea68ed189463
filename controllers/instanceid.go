package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// InstanceIDIndex is the cache field index of MessengerInstances by spec.instanceId (the
// operator's and the gateway's).
const InstanceIDIndex = "spec.instanceId"

// ReasonInstanceIDConflict: an earlier MessengerInstance already claims spec.instanceId.
const ReasonInstanceIDConflict = "InstanceIDConflict"

// IndexInstanceID is the index function of InstanceIDIndex.
func IndexInstanceID(obj client.Object) []string {
	mi, ok := obj.(*v1alpha1.MessengerInstance)
	if !ok || mi.Spec.InstanceID == "" {
		return nil
	}
	return []string{mi.Spec.InstanceID}
}

// InstanceIDOwner returns the instance that owns an instanceId among those claiming it: the
// earliest created, ties broken by namespace/name. Every later claimant is in conflict.
func InstanceIDOwner(claimants []v1alpha1.MessengerInstance) *v1alpha1.MessengerInstance {
	if len(claimants) == 0 {
		return nil
	}
	best := &claimants[0]
	for i := range claimants[1:] {
		if c := &claimants[i+1]; claimsEarlier(c, best) {
			best = c
		}
	}
	return best
}

// claimsEarlier orders claimants: creationTimestamp, then namespace/name.
func claimsEarlier(a, b *v1alpha1.MessengerInstance) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name) < 0
}

// checkInstanceID stalls mi when an earlier MessengerInstance claims the same spec.instanceId.
func (r *Reconciler) checkInstanceID(ctx context.Context, mi *v1alpha1.MessengerInstance) error {
	if mi.Spec.InstanceID == "" {
		return nil
	}
	list := &v1alpha1.MessengerInstanceList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{InstanceIDIndex: mi.Spec.InstanceID}); err != nil {
		return fmt.Errorf("listing MessengerInstances with instanceId %s: %w", mi.Spec.InstanceID, err)
	}
	owner := InstanceIDOwner(list.Items)
	if owner == nil || owner.Namespace == mi.Namespace && owner.Name == mi.Name {
		return nil
	}
	return &errStalled{ReasonInstanceIDConflict, fmt.Sprintf(
		"spec.instanceId %s is already claimed by MessengerInstance %s/%s (created earlier): choose another id",
		mi.Spec.InstanceID, owner.Namespace, owner.Name)}
}

// sameInstanceID maps a MessengerInstance event to the other instances claiming its
// spec.instanceId, so a conflict appears and clears as soon as the earlier claimant changes.
func (r *Reconciler) sameInstanceID(ctx context.Context, obj client.Object) []reconcile.Request {
	ids := IndexInstanceID(obj)
	if len(ids) == 0 {
		return nil
	}
	list := &v1alpha1.MessengerInstanceList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{InstanceIDIndex: ids[0]}); err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, mi := range list.Items {
		if mi.Namespace != obj.GetNamespace() || mi.Name != obj.GetName() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&mi)})
		}
	}
	return slices.Clip(reqs)
}
