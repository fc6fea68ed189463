package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	v1alpha1ac "github.com/messenger-operator/messenger-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
)

// Reasons of the Hibernated condition and of the wake records.
const (
	// ReasonIdle: Hibernated=True, the instance was idle for idleAfter and is scaled to zero.
	ReasonIdle = "Idle"
	// ReasonActive: Hibernated=False, the instance serves.
	ReasonActive = "Active"
	// ReasonWaking: Hibernated=False, a wake was requested and the pod is starting.
	ReasonWaking = "Waking"
	// ReasonHibernated is the Ready reason of a hibernated instance scaled to zero.
	ReasonHibernated = "Hibernated"
	// WakeRequested is the lastWakeReason of a wake by the annotation (a call through the gateway).
	WakeRequested = "Requested"
	// WakeSchedule is the lastWakeReason of a wake by spec.hibernation.wakeEvery.
	WakeSchedule = "Schedule"
)

// DefaultCollectWindow is how long an instance woken by wakeEvery stays up, from the time it
// is connected again, to receive what WhatsApp kept, when nothing else keeps it awake.
const DefaultCollectWindow = time.Minute

// fallAsleepDelay is the time between the status saying Hibernated=True and the scale-down, for
// the gateway's informers to see it first.
const fallAsleepDelay = time.Second

// HibernationPlan is what one reconcile decided about hibernation (PlanHibernation).
type HibernationPlan struct {
	// Asleep: the StatefulSet is scaled to zero and Hibernated is True.
	Asleep bool
	// Status is the status.hibernation to write.
	Status v1alpha1.HibernationStatus
	// IdleAfter is spec.hibernation.idleAfter (for messages).
	IdleAfter time.Duration
	// Fell and Woke are set on the reconcile that changes the state (for events).
	Fell bool
	// Woke is the wake reason when this reconcile woke the instance ("" otherwise).
	Woke string
	// RequeueAfter is when the plan must be looked at again without any change (0: never).
	RequeueAfter time.Duration
}

// PlanHibernation decides whether an instance with spec.hibernation sleeps, from its status,
// annotations and the time now (nil when spec.hibernation is not set or the instance is
// suspended). It is pure: the reconciler applies the plan.
//
// Activity is an API call through the gateway (the last-call annotation), a new
// lastMessageNumber (a message in or out), queued sends, or a wake request. An awake instance
// sleeps once it is connected (Authenticated=True) and idleAfter passed since the later of its
// last activity and its wake; woken by wakeEvery without activity since, it sleeps collect after it
// connected. A sleeping instance wakes on a new wake annotation value or when nextWakeTime is due.
func PlanHibernation(mi *v1alpha1.MessengerInstance, now time.Time, collect time.Duration) *HibernationPlan {
	spec := mi.Spec.Hibernation
	if spec == nil || mi.Spec.Suspend {
		return nil
	}
	now = now.Truncate(time.Second) // the API server stores whole seconds
	p := &HibernationPlan{IdleAfter: spec.IdleAfter.Duration, Asleep: meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionHibernated)}
	if prev := mi.Status.Hibernation; prev != nil {
		p.Status = *prev.DeepCopy()
	}
	st := &p.Status
	p.countActivity(mi, now)
	if v := mi.Annotations[v1alpha1.WakeAnnotation]; v != "" && v != st.LastHandledWake {
		st.LastHandledWake = v
		st.LastActivityTime = later(st.LastActivityTime, now)
		if p.Asleep {
			p.Woke = WakeRequested
		}
	}
	if p.Asleep && p.Woke == "" && spec.WakeEvery != nil && st.NextWakeTime != nil && !now.Before(st.NextWakeTime.Time) {
		p.Woke = WakeSchedule
	}
	if p.Woke != "" {
		p.Asleep = false
		st.LastWakeTime, st.LastWakeReason, st.NextWakeTime = ptrTime(now), p.Woke, nil
	}
	if !p.Asleep {
		p.planAwake(mi, now, collect)
	}
	if p.Asleep {
		p.planAsleep(spec, now)
	}
	return p
}

// countActivity records the gateway's last call and new messages or queued sends as activity.
func (p *HibernationPlan) countActivity(mi *v1alpha1.MessengerInstance, now time.Time) {
	st := &p.Status
	if raw := mi.Annotations[v1alpha1.LastCallAnnotation]; raw != "" {
		if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
			// A call stamped in the future (clock skew) counts as now.
			if t.After(now) {
				t = now
			}
			st.LastActivityTime = later(st.LastActivityTime, t.Truncate(time.Second))
		}
	}
	if p.Asleep {
		return // the counters of a stopped instance do not move
	}
	if n := mi.Status.LastMessageNumber; n != st.ObservedMessageNumber || mi.Status.QueueLength > 0 {
		st.ObservedMessageNumber = n
		st.LastActivityTime = later(st.LastActivityTime, now)
	}
}

// planAwake decides when an awake instance falls asleep.
func (p *HibernationPlan) planAwake(mi *v1alpha1.MessengerInstance, now time.Time, collect time.Duration) {
	auth := meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionAuthenticated)
	if auth == nil || auth.Status != metav1.ConditionTrue {
		return // not connected (starting, or waiting for a QR scan): nothing to collect yet, never idle
	}
	st := &p.Status
	since := auth.LastTransitionTime.Time
	if st.LastWakeTime != nil && st.LastWakeTime.After(since) {
		since = st.LastWakeTime.Time
	}
	var deadline time.Time
	if st.LastWakeReason == WakeSchedule && (st.LastActivityTime == nil || st.LastActivityTime.Before(st.LastWakeTime)) {
		deadline = since.Add(collect)
	} else {
		if st.LastActivityTime != nil && st.LastActivityTime.After(since) {
			since = st.LastActivityTime.Time
		}
		deadline = since.Add(p.IdleAfter)
	}
	if now.Before(deadline) {
		p.RequeueAfter = deadline.Sub(now) + time.Second/2
		return
	}
	p.Asleep, p.Fell = true, true
}

// planAsleep keeps the schedule of a sleeping instance.
func (p *HibernationPlan) planAsleep(spec *v1alpha1.HibernationSpec, now time.Time) {
	st := &p.Status
	if spec.WakeEvery == nil {
		st.NextWakeTime = nil
		return
	}
	if st.NextWakeTime == nil || p.Fell {
		st.NextWakeTime = ptrTime(now.Add(spec.WakeEvery.Duration))
	}
	p.RequeueAfter = max(st.NextWakeTime.Sub(now), 0) + time.Second/2
}

// HibernatedCondition is the Hibernated condition for a plan; ready says whether the workload
// serves (a woken instance is Waking until it does).
func HibernatedCondition(p *HibernationPlan, ready bool, generation int64) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionHibernated, Status: metav1.ConditionFalse, ObservedGeneration: generation}
	switch {
	case p.Asleep:
		c.Status, c.Reason = metav1.ConditionTrue, ReasonIdle
		c.Message = fmt.Sprintf("no activity for %s: scaled to zero, session kept; a call through the gateway wakes it", p.IdleAfter)
	case !ready && p.Status.LastWakeTime != nil:
		c.Reason, c.Message = ReasonWaking, "woken ("+p.Status.LastWakeReason+"): the pod is starting"
	default:
		c.Reason = ReasonActive
		c.Message = fmt.Sprintf("serving; hibernates after %s without API calls through the gateway or messages", p.IdleAfter)
	}
	return c
}

// Hibernating reports whether the instance's status says it sleeps (the builders scale it to zero).
func Hibernating(mi *v1alpha1.MessengerInstance) bool {
	return mi.Spec.Hibernation != nil && !mi.Spec.Suspend &&
		meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionHibernated)
}

// withPlan returns the view of mi the builders see. A plan that wakes the instance is applied at
// once (its Hibernated condition cleared in the view; mi itself is not changed, its status is
// compared with what is written). A plan that puts it to sleep is applied by the reconcile after
// the status says Hibernated=True (fallAsleepDelay later), so that the gateway holds new calls
// instead of sending them to a pod that is stopping.
func withPlan(mi *v1alpha1.MessengerInstance, p *HibernationPlan) *v1alpha1.MessengerInstance {
	if p == nil || p.Asleep || !Hibernating(mi) {
		return mi
	}
	view := mi.DeepCopy()
	meta.SetStatusCondition(&view.Status.Conditions, HibernatedCondition(p, false, mi.Generation))
	return view
}

// hibernationEvent is the event for a state change of the plan ("" when none).
func hibernationEvent(p *HibernationPlan, spec *v1alpha1.HibernationSpec) (reason, msg string) {
	switch {
	case p == nil:
		return "", ""
	case p.Fell:
		return "Hibernating", fmt.Sprintf("No API calls or messages for %s: scaling to zero, session kept", p.IdleAfter)
	case p.Woke == WakeSchedule:
		return "Waking", fmt.Sprintf("Scheduled wake (wakeEvery %s) to collect the messages WhatsApp kept", spec.WakeEvery.Duration)
	case p.Woke != "":
		return "Waking", "Woken by a request (a call through the gateway or the " + v1alpha1.WakeAnnotation + " annotation)"
	}
	return "", ""
}

// later returns the later of t and u (t may be nil).
func later(t *metav1.Time, u time.Time) *metav1.Time {
	if t != nil && !t.Time.Before(u) {
		return t
	}
	return ptrTime(u)
}

func ptrTime(t time.Time) *metav1.Time {
	m := metav1.NewTime(t)
	return &m
}

// planHibernation plans with the reconciler's clock and collect window.
func (r *Reconciler) planHibernation(mi *v1alpha1.MessengerInstance) *HibernationPlan {
	if mi.Spec.Hibernation == nil {
		return nil
	}
	now := time.Now()
	if r.Clock != nil {
		now = r.Clock.Now()
	}
	collect := r.CollectWindow
	if collect <= 0 {
		collect = DefaultCollectWindow
	}
	return PlanHibernation(mi, now, collect)
}

// afterHibernation runs once the status is written: it records the events of a state change and
// returns the requeue that keeps the plan's next decision on time (the sooner of it and requeue).
func (r *Reconciler) afterHibernation(mi *v1alpha1.MessengerInstance, obs Observation, requeue time.Duration, applied bool) time.Duration {
	p := obs.Hibernation
	if p == nil || !applied {
		return requeue
	}
	if reason, msg := hibernationEvent(p, mi.Spec.Hibernation); reason != "" {
		r.Recorder.Eventf(mi, nil, corev1.EventTypeNormal, reason, "Hibernation", "%s", msg)
		if p.Fell {
			r.Metrics.hibernationTransition("hibernate", ReasonIdle)
		} else {
			r.Metrics.hibernationTransition("wake", p.Woke)
		}
	}
	next := p.RequeueAfter
	if p.Fell {
		next = fallAsleepDelay // the status says Hibernated; the next reconcile scales to zero
	}
	if next > 0 && (requeue == 0 || next < requeue) {
		return next
	}
	return requeue
}

// hibernationChanged reports whether status.hibernation or the Hibernated condition must be
// written: the plan changed them, or spec.hibernation went and they are still there.
func hibernationChanged(mi *v1alpha1.MessengerInstance, p *HibernationPlan) bool {
	if p == nil {
		return mi.Status.Hibernation != nil || meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionHibernated) != nil
	}
	return mi.Status.Hibernation == nil || !equality.Semantic.DeepEqual(*mi.Status.Hibernation, p.Status)
}

// hibernationStatusAC is the apply configuration of status.hibernation.
func hibernationStatusAC(st v1alpha1.HibernationStatus) *v1alpha1ac.HibernationStatusApplyConfiguration {
	ac := v1alpha1ac.HibernationStatus()
	if st.LastActivityTime != nil {
		ac.WithLastActivityTime(*st.LastActivityTime)
	}
	if st.ObservedMessageNumber != 0 {
		ac.WithObservedMessageNumber(st.ObservedMessageNumber)
	}
	if st.LastWakeTime != nil {
		ac.WithLastWakeTime(*st.LastWakeTime)
	}
	if st.LastWakeReason != "" {
		ac.WithLastWakeReason(st.LastWakeReason)
	}
	if st.LastHandledWake != "" {
		ac.WithLastHandledWake(st.LastHandledWake)
	}
	if st.NextWakeTime != nil {
		ac.WithNextWakeTime(*st.NextWakeTime)
	}
	return ac
}

// wakeForLogout scales a hibernated instance that is being deleted with deletionPolicy Logout
// back to one pod, so that it can be asked to log out (the logout is retried until it serves).
func (r *Reconciler) wakeForLogout(ctx context.Context, mi *v1alpha1.MessengerInstance) error {
	if !Hibernating(mi) {
		return nil
	}
	view := mi.DeepCopy()
	meta.RemoveStatusCondition(&view.Status.Conditions, v1alpha1.ConditionHibernated)
	for _, c := range r.children() {
		if c.kind == "StatefulSet" {
			return r.applyChild(ctx, view, c)
		}
	}
	return nil
}
