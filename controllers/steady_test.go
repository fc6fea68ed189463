package controllers_test

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/messenger-operator/messenger-operator/controllers"
)

// TestSettledInstanceNotRequeued: once an instance is settled (children applied, pod ready,
// account authenticated, status written), nothing reconciles it again on its own — no periodic
// requeue, no reaction to the operator's own status or child writes. The window is closed by a
// signal, not a sleep: another instance created afterwards in the same namespace is reconciled to
// its first status (its events go through the same queue and workers), and the settled one's
// count must not have moved meanwhile.
func TestSettledInstanceNotRequeued(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	createInstance(t, ns, "settled", nil)
	waitReady(t, ns, "settled", controllers.ReasonProgressing)
	simulatePod(t, ns, "settled", 1, 1)
	waitReady(t, ns, "settled", controllers.ReasonAwaitingAuthentication)
	if err := simulateAgent(t, k8s, ns, "settled", "authenticated", true); err != nil {
		t.Fatalf("agent status: %v", err)
	}
	waitReady(t, ns, "settled", controllers.ReasonAuthenticated)
	settled := types.NamespacedName{Namespace: ns, Name: "settled"}
	before := reconciles.of(settled)
	if before == 0 {
		t.Fatal("no reconcile counted: OnReconcile not wired")
	}

	createInstance(t, ns, "later", nil)
	later := types.NamespacedName{Namespace: ns, Name: "later"}
	waitReady(t, ns, "later", controllers.ReasonProgressing)
	eventually(t, "later reconciled", func() error {
		if reconciles.of(later) == 0 {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if after := reconciles.of(settled); after != before {
		t.Errorf("settled instance reconciled %d more times while nothing about it changed", after-before)
	}
	t.Logf("settled instance: %d reconciles to settle (create, pod ready, authenticated), none after", before)
}
