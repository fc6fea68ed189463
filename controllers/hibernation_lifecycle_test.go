package controllers_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	v1alpha1ac "github.com/messenger-operator/messenger-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/instance/agent"
)

// connectAgent writes what the instance's agent writes once connected: authenticated, the
// Authenticated condition since the operator's (fake) now, and a message number.
func connectAgent(t *testing.T, ns, name string, messageNumber int64) {
	t.Helper()
	ac := v1alpha1ac.MessengerInstance(name, ns).WithStatus(v1alpha1ac.MessengerInstanceStatus().
		WithAccountStatus(v1alpha1.AccountStatusAuthenticated).
		WithLastMessageNumber(messageNumber).
		WithConditions(metav1ac.Condition().WithType(v1alpha1.ConditionAuthenticated).WithStatus(metav1.ConditionTrue).
			WithReason("Connected").WithMessage("connected").WithLastTransitionTime(metav1.NewTime(hibClock.Now()))))
	if err := k8s.Status().Apply(context.Background(), ac, client.FieldOwner(agent.FieldManager), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
}

// stopAgent writes what the agent writes when its process stops (its counters stay).
func stopAgent(t *testing.T, ns, name string, messageNumber int64) {
	t.Helper()
	ac := v1alpha1ac.MessengerInstance(name, ns).WithStatus(v1alpha1ac.MessengerInstanceStatus().
		WithAccountStatus(v1alpha1.AccountStatusAuthenticated).
		WithLastMessageNumber(messageNumber).
		WithConditions(metav1ac.Condition().WithType(v1alpha1.ConditionAuthenticated).WithStatus(metav1.ConditionFalse).
			WithReason(agent.ReasonStopped).WithMessage("stopped").WithLastTransitionTime(metav1.NewTime(hibClock.Now()))))
	if err := k8s.Status().Apply(context.Background(), ac, client.FieldOwner(agent.FieldManager), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
}

// setAnnotation sets one annotation (a nudge makes the operator look again after the clock moved).
func setAnnotation(t *testing.T, ns, name, key, value string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mi := getInstance(t, ns, name)
		if mi.Annotations == nil {
			mi.Annotations = map[string]string{}
		}
		mi.Annotations[key] = value
		return k8s.Update(context.Background(), mi)
	})
	if err != nil {
		t.Fatal(err)
	}
}

var nudges int

// step moves the operator's clock and nudges the instance so that it is reconciled at the new time.
func step(t *testing.T, ns, name string, d time.Duration) {
	t.Helper()
	hibClock.Step(d)
	nudges++
	setAnnotation(t, ns, name, "test.messenger-operator.io/nudge", strconv.Itoa(nudges))
}

// waitHibernated waits for the Hibernated condition's status and reason and the StatefulSet's replicas.
func waitHibernated(t *testing.T, ns, name string, want metav1.ConditionStatus, reason string, replicas int32) *v1alpha1.MessengerInstance {
	t.Helper()
	var mi *v1alpha1.MessengerInstance
	eventually(t, fmt.Sprintf("Hibernated=%s (%s), %d replicas", want, reason, replicas), func() error {
		mi = getInstance(t, ns, name)
		c := meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionHibernated)
		if c == nil || c.Status != want || c.Reason != reason {
			return fmt.Errorf("Hibernated = %+v; status.hibernation %+v; now %v; conditions %+v", c, mi.Status.Hibernation, hibClock.Now(), mi.Status.Conditions)
		}
		sts := &appsv1.StatefulSet{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sts); err != nil {
			return err
		}
		if sts.Spec.Replicas == nil || *sts.Spec.Replicas != replicas {
			return fmt.Errorf("replicas %v", sts.Spec.Replicas)
		}
		return nil
	})
	return mi
}

// waitObserved waits until the operator counted the agent's message number (it saw the
// connection), so that a clock step is not merged with it into one reconcile.
func waitObserved(t *testing.T, ns, name string, n int64) {
	t.Helper()
	eventually(t, "the message number counted as activity", func() error {
		if h := getInstance(t, ns, name).Status.Hibernation; h == nil || h.ObservedMessageNumber != n || h.LastActivityTime == nil {
			return fmt.Errorf("status.hibernation = %+v", h)
		}
		return nil
	})
}

// waitEvent waits for an event about the instance with the given reason.
func waitEvent(t *testing.T, ns, name, reason string) {
	t.Helper()
	eventually(t, "event "+reason, func() error {
		evs := &eventsv1.EventList{}
		if err := k8s.List(context.Background(), evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Regarding.Name == name && e.Reason == reason {
				return nil
			}
		}
		return fmt.Errorf("no %s event", reason)
	})
}

// Hibernation against a real API server with the operator's clock stepped: idle for idleAfter →
// zero replicas, Hibernated=True, Ready=True (Hibernated), kstatus Current; a wake annotation →
// one replica, Waking, then Active; idle again; wakeEvery → woken on schedule, asleep again after
// the collect window; spec.hibernation removed → the condition goes and the replica returns.
func TestHibernationLifecycle(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	const name = "sleepy"
	createInstance(t, ns, name, func(mi *v1alpha1.MessengerInstance) {
		mi.Spec.Hibernation = &v1alpha1.HibernationSpec{IdleAfter: metav1.Duration{Duration: 5 * time.Minute},
			WakeEvery: &metav1.Duration{Duration: time.Hour}}
	})
	simulatePod(t, ns, name, 1, 1)
	connectAgent(t, ns, name, 4)
	waitHibernated(t, ns, name, metav1.ConditionFalse, controllers.ReasonActive, 1)
	waitObserved(t, ns, name, 4)

	// Not yet idle after 4 minutes; a call through the gateway then moves the deadline.
	step(t, ns, name, 4*time.Minute)
	setAnnotation(t, ns, name, v1alpha1.LastCallAnnotation, hibClock.Now().UTC().Format(time.RFC3339Nano))
	step(t, ns, name, 2*time.Minute)
	waitHibernated(t, ns, name, metav1.ConditionFalse, controllers.ReasonActive, 1)

	// Idle for idleAfter since the call: scaled to zero.
	step(t, ns, name, 3*time.Minute+time.Second)
	waitHibernated(t, ns, name, metav1.ConditionTrue, controllers.ReasonIdle, 0)
	stopAgent(t, ns, name, 4)
	simulatePod(t, ns, name, 0, 0)
	mi := waitReady(t, ns, name, controllers.ReasonHibernated)
	if s := kstatusOf(t, mi); s != status.CurrentStatus {
		t.Errorf("kstatus of a hibernated instance = %s, want Current", s)
	}
	if next := mi.Status.Hibernation.NextWakeTime; next == nil || next.Time.Sub(hibClock.Now()) > time.Hour {
		t.Errorf("nextWakeTime = %v, want within wakeEvery of %v", next, hibClock.Now())
	}
	waitEvent(t, ns, name, "Hibernating")

	// A wake request (what the gateway writes on a call): one replica, Waking until the pod serves.
	setAnnotation(t, ns, name, v1alpha1.WakeAnnotation, "call-1")
	mi = waitHibernated(t, ns, name, metav1.ConditionFalse, controllers.ReasonWaking, 1)
	if h := mi.Status.Hibernation; h.LastHandledWake != "call-1" || h.LastWakeReason != controllers.WakeRequested {
		t.Errorf("status.hibernation after the wake = %+v", h)
	}
	simulatePod(t, ns, name, 1, 1)
	connectAgent(t, ns, name, 4)
	waitHibernated(t, ns, name, metav1.ConditionFalse, controllers.ReasonActive, 1)
	waitReady(t, ns, name, controllers.ReasonAuthenticated)
	waitEvent(t, ns, name, "Waking")

	// Idle again, then wakeEvery is due: woken on schedule.
	step(t, ns, name, 5*time.Minute+time.Second)
	waitHibernated(t, ns, name, metav1.ConditionTrue, controllers.ReasonIdle, 0)
	stopAgent(t, ns, name, 4)
	simulatePod(t, ns, name, 0, 0)
	step(t, ns, name, time.Hour+time.Second)
	mi = waitHibernated(t, ns, name, metav1.ConditionFalse, controllers.ReasonWaking, 1)
	if mi.Status.Hibernation.LastWakeReason != controllers.WakeSchedule {
		t.Errorf("lastWakeReason = %q, want Schedule", mi.Status.Hibernation.LastWakeReason)
	}
	simulatePod(t, ns, name, 1, 1)
	connectAgent(t, ns, name, 4)
	waitHibernated(t, ns, name, metav1.ConditionFalse, controllers.ReasonActive, 1)
	// No messages arrived: asleep again after the collect window (shorter than idleAfter).
	step(t, ns, name, collectWindow+time.Second)
	waitHibernated(t, ns, name, metav1.ConditionTrue, controllers.ReasonIdle, 0)

	// spec.hibernation removed: the condition and status.hibernation go, the replica comes back.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mi := getInstance(t, ns, name)
		mi.Spec.Hibernation = nil
		return k8s.Update(context.Background(), mi)
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "hibernation gone", func() error {
		mi := getInstance(t, ns, name)
		sts := &appsv1.StatefulSet{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sts); err != nil {
			return err
		}
		if meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionHibernated) != nil || mi.Status.Hibernation != nil ||
			*sts.Spec.Replicas != 1 {
			return fmt.Errorf("conditions %+v, hibernation %+v, replicas %d", mi.Status.Conditions, mi.Status.Hibernation, *sts.Spec.Replicas)
		}
		return nil
	})
}

// Deleting a hibernated instance with deletionPolicy Logout first scales it back to one pod, so
// that it can be asked to log out; the finalizer goes once it answered.
func TestHibernatedLogoutWakesFirst(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	const name = "farewell"
	createInstance(t, ns, name, func(mi *v1alpha1.MessengerInstance) {
		mi.Spec.DeletionPolicy = v1alpha1.DeletionPolicyLogout
		mi.Spec.Hibernation = &v1alpha1.HibernationSpec{IdleAfter: metav1.Duration{Duration: time.Minute}}
	})
	endpoint := "http://" + name + "." + ns + ".svc:8080"
	instances.setFail(endpoint, fmt.Errorf("connection refused"))
	simulatePod(t, ns, name, 1, 1)
	connectAgent(t, ns, name, 1)
	waitHibernated(t, ns, name, metav1.ConditionFalse, controllers.ReasonActive, 1)
	waitObserved(t, ns, name, 1)
	step(t, ns, name, 2*time.Minute)
	waitHibernated(t, ns, name, metav1.ConditionTrue, controllers.ReasonIdle, 0)
	simulatePod(t, ns, name, 0, 0)
	if err := k8s.Delete(context.Background(), getInstance(t, ns, name)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the StatefulSet scaled back to one for the logout", func() error {
		sts := &appsv1.StatefulSet{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sts); err != nil {
			return err
		}
		return map[bool]error{true: nil, false: fmt.Errorf("replicas %d", *sts.Spec.Replicas)}[*sts.Spec.Replicas == 1]
	})
	eventually(t, "a logout tried while the pod does not serve yet", func() error {
		if n := len(instances.callsTo(endpoint)); n == 0 {
			return fmt.Errorf("no logout call yet")
		}
		return nil
	})
	instances.setFail(endpoint, nil) // the pod serves now
	eventually(t, "deleted after the logout", func() error {
		err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &v1alpha1.MessengerInstance{})
		if err == nil {
			return fmt.Errorf("still there")
		}
		return client.IgnoreNotFound(err)
	})
	if len(instances.callsTo(endpoint)) < 2 {
		t.Errorf("logout calls = %d, want the failed one(s) and the answered one", len(instances.callsTo(endpoint)))
	}
}
