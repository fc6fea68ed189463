package controllers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
)

// Two instances claim one spec.instanceId: the later is Stalled (InstanceIDConflict, naming the
// earlier); when the earlier lets the id go, the later is unstalled without any other change.
func TestInstanceIDConflictStallsLaterInstance(t *testing.T) {
	requireEnv(t)
	nsA, nsB := newNamespace(t), newNamespace(t)
	createInstance(t, nsA, "first", func(mi *v1alpha1.MessengerInstance) { mi.Spec.InstanceID = "4242" })
	waitReady(t, nsA, "first", controllers.ReasonProgressing)
	// creationTimestamp has whole seconds, and a tie goes by namespace/name (random here): the
	// second claim must be made in a later second to be the later one.
	created := getInstance(t, nsA, "first").CreationTimestamp.Time
	for !time.Now().Truncate(time.Second).After(created) {
		time.Sleep(20 * time.Millisecond)
	}
	createInstance(t, nsB, "second", func(mi *v1alpha1.MessengerInstance) { mi.Spec.InstanceID = "4242" })
	mi := waitReady(t, nsB, "second", controllers.ReasonInstanceIDConflict)
	st := meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionStalled)
	if st == nil || st.Status != "True" || !strings.Contains(st.Message, nsA+"/first") {
		t.Errorf("Stalled = %+v, want True naming %s/first", st, nsA)
	}
	if c := meta.FindStatusCondition(getInstance(t, nsA, "first").Status.Conditions, v1alpha1.ConditionStalled); c == nil || c.Status != "False" {
		t.Errorf("the earlier instance is stalled: %+v", c)
	}
	first := getInstance(t, nsA, "first")
	first.Spec.InstanceID = "4343"
	if err := k8s.Update(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	waitReady(t, nsB, "second", controllers.ReasonProgressing)
}

// A malformed instanceId is refused by the API server.
func TestInstanceIDMustBeDigits(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	mi := &v1alpha1.MessengerInstance{}
	mi.Namespace, mi.Name, mi.Spec.InstanceID = ns, "bad", "12a"
	err := k8s.Create(context.Background(), mi)
	if err == nil || !strings.Contains(err.Error(), "spec.instanceId") {
		t.Fatalf("create with instanceId 12a: %v, want a validation error on spec.instanceId", err)
	}
}
