package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

// connected is an instance with hibernation after idle, connected since t0.
func connected(idle time.Duration, wakeEvery time.Duration) *v1alpha1.MessengerInstance {
	mi := testInstance()
	mi.Spec.Hibernation = &v1alpha1.HibernationSpec{IdleAfter: metav1.Duration{Duration: idle}}
	if wakeEvery > 0 {
		mi.Spec.Hibernation.WakeEvery = &metav1.Duration{Duration: wakeEvery}
	}
	mi.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionAuthenticated, Status: metav1.ConditionTrue,
		Reason: "Connected", LastTransitionTime: metav1.NewTime(t0)}}
	return mi
}

// apply stores a plan in mi as the reconciler would (status and the Hibernated condition).
func apply(mi *v1alpha1.MessengerInstance, p *HibernationPlan) {
	mi.Status.Hibernation = p.Status.DeepCopy()
	meta.SetStatusCondition(&mi.Status.Conditions, HibernatedCondition(p, true, mi.Generation))
}

func TestPlanHibernationIdle(t *testing.T) {
	mi := connected(5*time.Minute, 0)
	p := PlanHibernation(mi, t0.Add(4*time.Minute), time.Minute)
	if p.Asleep || p.RequeueAfter < time.Minute || p.RequeueAfter > time.Minute+time.Second {
		t.Fatalf("before idleAfter: %+v", p)
	}
	apply(mi, p)
	// A call through the gateway at 4m moves the deadline to 9m.
	mi.Annotations = map[string]string{v1alpha1.LastCallAnnotation: t0.Add(4 * time.Minute).Format(time.RFC3339Nano)}
	if p := PlanHibernation(mi, t0.Add(6*time.Minute), time.Minute); p.Asleep || p.Status.LastActivityTime.Time != t0.Add(4*time.Minute) {
		t.Fatalf("after a call: %+v", p)
	}
	p = PlanHibernation(mi, t0.Add(9*time.Minute), time.Minute)
	if !p.Asleep || !p.Fell || p.RequeueAfter != 0 || p.Status.NextWakeTime != nil {
		t.Fatalf("idle for idleAfter: %+v", p)
	}
	apply(mi, p)
	if !Hibernating(mi) || *BuildStatefulSet(mi, BuildOptions{}).Spec.Replicas != 0 {
		t.Fatal("a hibernated instance's StatefulSet keeps its replica")
	}
	// Asleep: nothing changes until a wake.
	if p := PlanHibernation(mi, t0.Add(time.Hour), time.Minute); !p.Asleep || p.Fell || p.Woke != "" {
		t.Fatalf("sleeping: %+v", p)
	}
}

func TestPlanHibernationMessagesAreActivity(t *testing.T) {
	mi := connected(5*time.Minute, 0)
	mi.Status.LastMessageNumber = 7
	p := PlanHibernation(mi, t0.Add(3*time.Minute), time.Minute)
	if p.Status.ObservedMessageNumber != 7 || p.Status.LastActivityTime.Time != t0.Add(3*time.Minute) {
		t.Fatalf("a new message number is not activity: %+v", p.Status)
	}
	apply(mi, p)
	if p := PlanHibernation(mi, t0.Add(7*time.Minute), time.Minute); p.Asleep {
		t.Fatal("slept 4m after a message with idleAfter 5m")
	}
	mi.Status.QueueLength = 1
	if p := PlanHibernation(mi, t0.Add(20*time.Minute), time.Minute); p.Asleep {
		t.Fatal("slept with sends queued")
	}
}

func TestPlanHibernationNotConnected(t *testing.T) {
	mi := connected(time.Minute, 0)
	mi.Status.Conditions[0].Status = metav1.ConditionFalse // waiting for a QR scan
	if p := PlanHibernation(mi, t0.Add(time.Hour), time.Minute); p.Asleep || p.RequeueAfter != 0 {
		t.Fatalf("an instance that is not connected slept: %+v", p)
	}
	mi.Spec.Suspend = true
	if p := PlanHibernation(mi, t0.Add(time.Hour), time.Minute); p != nil {
		t.Fatalf("a suspended instance has a plan: %+v", p)
	}
}

func TestPlanHibernationWakeRequest(t *testing.T) {
	mi := connected(time.Minute, 0)
	p := PlanHibernation(mi, t0.Add(2*time.Minute), time.Minute)
	apply(mi, p)
	mi.Annotations = map[string]string{v1alpha1.WakeAnnotation: "call-1"}
	now := t0.Add(10 * time.Minute)
	p = PlanHibernation(mi, now, time.Minute)
	if p.Asleep || p.Woke != WakeRequested || p.Status.LastHandledWake != "call-1" || p.Status.LastWakeTime.Time != now {
		t.Fatalf("wake request: %+v", p)
	}
	if c := HibernatedCondition(p, false, 1); c.Status != metav1.ConditionFalse || c.Reason != ReasonWaking {
		t.Fatalf("while the pod starts: %+v", c)
	}
	apply(mi, p)
	// The same value again does nothing; it stays up idleAfter from the wake.
	if p := PlanHibernation(mi, now.Add(30*time.Second), time.Minute); p.Asleep || p.Woke != "" {
		t.Fatalf("after the wake: %+v", p)
	}
	if p := PlanHibernation(mi, now.Add(time.Minute), time.Minute); !p.Asleep {
		t.Fatalf("idleAfter after the wake: %+v", p)
	}
}

func TestPlanHibernationWakeEvery(t *testing.T) {
	mi := connected(time.Minute, 6*time.Hour)
	fell := t0.Add(time.Minute)
	p := PlanHibernation(mi, fell, 2*time.Minute)
	if !p.Asleep || p.Status.NextWakeTime.Time != fell.Add(6*time.Hour) || p.RequeueAfter < 6*time.Hour {
		t.Fatalf("asleep with wakeEvery: %+v", p)
	}
	apply(mi, p)
	due := fell.Add(6 * time.Hour)
	p = PlanHibernation(mi, due, 2*time.Minute)
	if p.Asleep || p.Woke != WakeSchedule || p.Status.NextWakeTime != nil {
		t.Fatalf("scheduled wake: %+v", p)
	}
	apply(mi, p)
	// Connected again 20 s later: without activity it stays the collect window (2m), counted
	// from the connection, not idleAfter (1m).
	mi.Status.Conditions[0].LastTransitionTime = metav1.NewTime(due.Add(20 * time.Second))
	if p := PlanHibernation(mi, due.Add(2*time.Minute), 2*time.Minute); p.Asleep {
		t.Fatalf("slept before the collect window ended: %+v", p)
	}
	p = PlanHibernation(mi, due.Add(2*time.Minute+20*time.Second), 2*time.Minute)
	if !p.Asleep || p.Status.NextWakeTime.Time != due.Add(2*time.Minute+20*time.Second+6*time.Hour) {
		t.Fatalf("after the collect window: %+v", p)
	}
}

func TestPlanHibernationScheduledWakeWithTraffic(t *testing.T) {
	mi := connected(10*time.Minute, time.Hour)
	p := PlanHibernation(mi, t0.Add(10*time.Minute), time.Minute)
	apply(mi, p)
	due := p.Status.NextWakeTime.Time
	apply(mi, PlanHibernation(mi, due, time.Minute))
	// Messages WhatsApp kept arrive: that is activity, so idleAfter applies from then.
	mi.Status.LastMessageNumber = 3
	p = PlanHibernation(mi, due.Add(30*time.Second), time.Minute)
	apply(mi, p)
	if p := PlanHibernation(mi, due.Add(5*time.Minute), time.Minute); p.Asleep {
		t.Fatal("slept after the collect window although messages arrived")
	}
	if p := PlanHibernation(mi, due.Add(10*time.Minute+30*time.Second), time.Minute); !p.Asleep {
		t.Fatal("awake idleAfter after the last message")
	}
}

func TestComputeConditionsHibernated(t *testing.T) {
	p := &HibernationPlan{Asleep: true, IdleAfter: time.Minute}
	conds := ComputeConditions(Observation{Generation: 2, Workload: readySTS(0, 0), Hibernation: p})
	ready := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
	hib := meta.FindStatusCondition(conds, v1alpha1.ConditionHibernated)
	rec := meta.FindStatusCondition(conds, v1alpha1.ConditionReconciling)
	if ready.Status != metav1.ConditionTrue || ready.Reason != ReasonHibernated || hib.Status != metav1.ConditionTrue || rec.Status != metav1.ConditionFalse {
		t.Fatalf("hibernated, scaled to zero: %+v", conds)
	}
	conds = ComputeConditions(Observation{Generation: 2, Workload: readySTS(1, 1), Hibernation: p})
	if c := meta.FindStatusCondition(conds, v1alpha1.ConditionReconciling); c.Status != metav1.ConditionTrue || c.Reason != ReasonScalingDown {
		t.Fatalf("hibernated, pod still running: %+v", conds)
	}
	if conds := ComputeConditions(Observation{Generation: 2, Workload: readySTS(1, 1)}); meta.FindStatusCondition(conds, v1alpha1.ConditionHibernated) != nil {
		t.Fatal("a Hibernated condition without spec.hibernation")
	}
}
