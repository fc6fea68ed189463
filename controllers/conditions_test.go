package controllers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

func readySTS(replicas, ready int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Generation: 2},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: replicas, ReadyReplicas: ready,
			UpdatedReplicas: replicas, CurrentRevision: "a", UpdateRevision: "a"},
	}
}

func TestComputeConditions(t *testing.T) {
	authTrue := &metav1.Condition{Type: v1alpha1.ConditionAuthenticated, Status: metav1.ConditionTrue}
	authFalse := &metav1.Condition{Type: v1alpha1.ConditionAuthenticated, Status: metav1.ConditionFalse}
	rolling := readySTS(1, 1)
	rolling.Status.UpdateRevision = "b"
	stale := readySTS(1, 1)
	stale.Status.ObservedGeneration = 1
	cases := []struct {
		name                        string
		obs                         Observation
		ready, reconciling, stalled bool
		reason                      string
	}{
		{"no workload yet", Observation{}, false, true, false, ReasonProgressing},
		{"pod not ready", Observation{Workload: readySTS(1, 0)}, false, true, false, ReasonProgressing},
		{"rolling out", Observation{Workload: rolling, AccountStatus: "authenticated"}, false, true, false, ReasonProgressing},
		{"generation not observed", Observation{Workload: stale, AccountStatus: "authenticated"}, false, true, false, ReasonProgressing},
		{"awaiting qr", Observation{Workload: readySTS(1, 1), AccountStatus: "got qr code"}, false, false, false, ReasonAwaitingAuthentication},
		{"authenticated by status", Observation{Workload: readySTS(1, 1), AccountStatus: "authenticated"}, true, false, false, ReasonAuthenticated},
		{"authenticated by condition", Observation{Workload: readySTS(1, 1), Authenticated: authTrue}, true, false, false, ReasonAuthenticated},
		{"condition wins over status", Observation{Workload: readySTS(1, 1), AccountStatus: "authenticated", Authenticated: authFalse}, false, false, false, ReasonAwaitingAuthentication},
		{"suspended, pod still there", Observation{Suspended: true, Workload: readySTS(1, 1)}, false, true, false, ReasonScalingDown},
		{"suspended, scaled down", Observation{Suspended: true, Workload: readySTS(0, 0)}, true, false, false, ReasonSuspended},
		{"stalled", Observation{Workload: readySTS(1, 1), AccountStatus: "authenticated", StalledReason: ReasonSecretNotFound, StalledMessage: "x"}, false, false, true, ReasonSecretNotFound},
		{"error", Observation{ErrorMessage: "boom"}, false, true, false, ReasonReconcileFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conds := ComputeConditions(tc.obs)
			if len(conds) != 3 {
				t.Fatalf("got %d conditions, want Ready, Reconciling, Stalled", len(conds))
			}
			if got := meta.IsStatusConditionTrue(conds, v1alpha1.ConditionReady); got != tc.ready {
				t.Errorf("Ready = %v, want %v", got, tc.ready)
			}
			if got := meta.IsStatusConditionTrue(conds, v1alpha1.ConditionReconciling); got != tc.reconciling {
				t.Errorf("Reconciling = %v, want %v", got, tc.reconciling)
			}
			if got := meta.IsStatusConditionTrue(conds, v1alpha1.ConditionStalled); got != tc.stalled {
				t.Errorf("Stalled = %v, want %v", got, tc.stalled)
			}
			if r := meta.FindStatusCondition(conds, v1alpha1.ConditionReady).Reason; r != tc.reason {
				t.Errorf("Ready reason = %s, want %s", r, tc.reason)
			}
		})
	}
}

func TestMergeConditionsKeepsTransitionTime(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Hour))
	current := []metav1.Condition{
		{Type: "Ready", Status: metav1.ConditionFalse, LastTransitionTime: t0},
		{Type: "Stalled", Status: metav1.ConditionFalse, LastTransitionTime: t0},
	}
	desired := []metav1.Condition{
		{Type: "Ready", Status: metav1.ConditionTrue},
		{Type: "Stalled", Status: metav1.ConditionFalse, Reason: "Other"},
		{Type: "Reconciling", Status: metav1.ConditionFalse},
	}
	got := MergeConditions(current, desired, t1)
	if !got[0].LastTransitionTime.Equal(&t1) {
		t.Errorf("changed Ready kept old time %v", got[0].LastTransitionTime)
	}
	if !got[1].LastTransitionTime.Equal(&t0) {
		t.Errorf("unchanged Stalled got new time %v", got[1].LastTransitionTime)
	}
	if !got[2].LastTransitionTime.Equal(&t1) {
		t.Errorf("new Reconciling time %v", got[2].LastTransitionTime)
	}
}

func TestRelevantUpdate(t *testing.T) {
	base := testInstance()
	base.Status.AccountStatus = "got qr code"
	base.Status.QRCode = "data:a"
	cases := []struct {
		name   string
		mutate func(*v1alpha1.MessengerInstance)
		want   bool
	}{
		{"qr code refresh", func(m *v1alpha1.MessengerInstance) { m.Status.QRCode = "data:b" }, false},
		{"queue length", func(m *v1alpha1.MessengerInstance) { m.Status.QueueLength = 5 }, false},
		{"account status", func(m *v1alpha1.MessengerInstance) { m.Status.AccountStatus = "authenticated" }, true},
		{"generation", func(m *v1alpha1.MessengerInstance) { m.Generation++ }, true},
		{"annotation", func(m *v1alpha1.MessengerInstance) {
			m.Annotations = map[string]string{v1alpha1.RebootAnnotation: "1"}
		}, true},
		{"authenticated condition", func(m *v1alpha1.MessengerInstance) {
			m.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionAuthenticated, Status: metav1.ConditionTrue}}
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := base.DeepCopy()
			tc.mutate(n)
			if got := relevantUpdate(base, n); got != tc.want {
				t.Errorf("relevantUpdate = %v, want %v", got, tc.want)
			}
		})
	}
}
