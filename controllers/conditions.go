package controllers

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// Condition reasons (CamelCase, stable; event reasons use the same words).
const (
	// ReasonProgressing: children are being created or the pod is rolling out.
	ReasonProgressing = "Progressing"
	// ReasonAwaitingAuthentication: the pod serves, the account is not logged in (scan the QR code).
	ReasonAwaitingAuthentication = "AwaitingAuthentication"
	// ReasonAuthenticated: the pod serves and the account is logged in.
	ReasonAuthenticated = "Authenticated"
	// ReasonSuspended: spec.suspend is true and the pod is gone; the session is kept.
	ReasonSuspended = "Suspended"
	// ReasonScalingDown: spec.suspend is true and the pod is still stopping.
	ReasonScalingDown = "ScalingDown"
	// ReasonSecretNotFound: a Secret named by the spec (or a key in it) does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidSpec: the API server refused a child built from the spec.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonReconcileFailed: a transient error; the operator retries with backoff.
	ReasonReconcileFailed = "ReconcileFailed"
	// ReasonNotStalled is the reason of Stalled=False and Reconciling=False.
	ReasonNotStalled = "Succeeded"
)

// Observation is what one reconcile saw; ComputeConditions turns it into conditions.
type Observation struct {
	// Generation is metadata.generation of the MessengerInstance.
	Generation int64
	// Suspended is spec.suspend.
	Suspended bool
	// Workload is the StatefulSet as read back after apply (nil if it could not be read).
	Workload *appsv1.StatefulSet
	// AccountStatus and Authenticated come from the instance's own status writes.
	AccountStatus string
	// Authenticated is the Authenticated condition written by the instance (nil if absent).
	Authenticated *metav1.Condition
	// StalledReason and StalledMessage are set when progress needs a change by the user.
	StalledReason, StalledMessage string
	// ErrorMessage is set when the reconcile failed with an error it will retry.
	ErrorMessage string
	// Hibernation is the hibernation plan (nil when spec.hibernation is not set).
	Hibernation *HibernationPlan
}

// workloadReady reports whether the StatefulSet has rolled out its current template and its pod
// is ready (or, suspended or hibernated, has no pods left), with a message saying what is missing.
func workloadReady(sts *appsv1.StatefulSet, suspended bool) (bool, string) {
	if sts == nil {
		return false, "waiting for the StatefulSet to be created"
	}
	st := sts.Status
	if st.ObservedGeneration < sts.Generation {
		return false, fmt.Sprintf("StatefulSet generation %d not yet observed by its controller", sts.Generation)
	}
	if suspended {
		if st.Replicas != 0 {
			return false, fmt.Sprintf("scaling to zero: %d pod(s) still running", st.Replicas)
		}
		return true, ""
	}
	if st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision || st.UpdatedReplicas < 1 {
		return false, "rolling out the instance pod"
	}
	if st.ReadyReplicas < 1 {
		return false, "waiting for the instance pod to become ready"
	}
	return true, ""
}

// isAuthenticated trusts the instance's Authenticated condition when present, else accountStatus.
func isAuthenticated(o Observation) bool {
	if o.Authenticated != nil {
		return o.Authenticated.Status == metav1.ConditionTrue
	}
	return o.AccountStatus == v1alpha1.AccountStatusAuthenticated
}

// ComputeConditions returns the Ready, Reconciling and Stalled conditions for an observation,
// kstatus style: Ready is always present; Reconciling is True while the operator still has work;
// Stalled is True when only the user can unblock it. Ready is True only when the pod serves and
// the account is authenticated, or the instance is suspended or hibernated and scaled to zero.
// With spec.hibernation the Hibernated condition follows.
func ComputeConditions(o Observation) []metav1.Condition {
	conds := computeConditions(o)
	if o.Hibernation != nil {
		ready, _ := workloadReady(o.Workload, false)
		conds = append(conds, HibernatedCondition(o.Hibernation, ready, o.Generation))
	}
	return conds
}

// computeConditions returns Ready, Reconciling and Stalled.
func computeConditions(o Observation) []metav1.Condition {
	cond := func(t string, s bool, reason, msg string) metav1.Condition {
		status := metav1.ConditionFalse
		if s {
			status = metav1.ConditionTrue
		}
		return metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: o.Generation}
	}
	set := func(ready bool, readyReason, readyMsg string, reconciling bool, recReason string, stalled bool, stReason string) []metav1.Condition {
		recMsg, stMsg := "", ""
		if reconciling {
			recMsg = readyMsg
		}
		if stalled {
			stMsg = readyMsg
		}
		return []metav1.Condition{
			cond(v1alpha1.ConditionReady, ready, readyReason, readyMsg),
			cond(v1alpha1.ConditionReconciling, reconciling, recReason, recMsg),
			cond(v1alpha1.ConditionStalled, stalled, stReason, stMsg),
		}
	}
	if o.StalledReason != "" {
		return set(false, o.StalledReason, o.StalledMessage, false, ReasonNotStalled, true, o.StalledReason)
	}
	if o.ErrorMessage != "" {
		return set(false, ReasonReconcileFailed, o.ErrorMessage, true, ReasonReconcileFailed, false, ReasonNotStalled)
	}
	asleep := o.Hibernation != nil && o.Hibernation.Asleep
	ok, msg := workloadReady(o.Workload, o.Suspended || asleep)
	switch {
	case asleep && ok:
		return set(true, ReasonHibernated, "instance is hibernated: idle, scaled to zero, session kept; a call through the gateway wakes it", false, ReasonNotStalled, false, ReasonNotStalled)
	case asleep:
		return set(false, ReasonScalingDown, msg, true, ReasonScalingDown, false, ReasonNotStalled)
	case o.Suspended && ok:
		return set(true, ReasonSuspended, "instance is suspended: scaled to zero, session kept", false, ReasonNotStalled, false, ReasonNotStalled)
	case o.Suspended:
		return set(false, ReasonScalingDown, msg, true, ReasonScalingDown, false, ReasonNotStalled)
	case !ok:
		return set(false, ReasonProgressing, msg, true, ReasonProgressing, false, ReasonNotStalled)
	case !isAuthenticated(o):
		status := o.AccountStatus
		if status == "" {
			status = "unknown"
		}
		return set(false, ReasonAwaitingAuthentication,
			fmt.Sprintf("instance is serving; account status is %q: scan status.qrCode with the phone", status),
			false, ReasonNotStalled, false, ReasonNotStalled)
	default:
		return set(true, ReasonAuthenticated, "instance is serving and the account is authenticated", false, ReasonNotStalled, false, ReasonNotStalled)
	}
}

// MergeConditions sets desired into a copy of current, keeping lastTransitionTime of conditions
// whose status did not change (so an unchanged status is a no-op write), stamping now otherwise.
func MergeConditions(current, desired []metav1.Condition, now metav1.Time) []metav1.Condition {
	out := make([]metav1.Condition, 0, len(desired))
	for _, d := range desired {
		if old := meta.FindStatusCondition(current, d.Type); old != nil && old.Status == d.Status {
			d.LastTransitionTime = old.LastTransitionTime
		} else {
			d.LastTransitionTime = now
		}
		out = append(out, d)
	}
	return out
}
