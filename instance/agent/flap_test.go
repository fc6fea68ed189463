package agent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/agent"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
)

// The real agent against a real API server, its engine's connection dropping every 200 ms for
// 6 s (60 state changes, 100 ms apart): the API server sees at most 6 status writes from the first
// drop to the settled state (at once, after holds of 1 and 2 s, the settled state after a 4 s hold,
// and slack for two more), the final status is the settled one, and the Events say the connection was lost
// and is back, no more often than status was written.
func TestFlappingConnectionBoundsStatusWrites(t *testing.T) {
	const bound = 6
	ns, cfg := setup(t, "flappy", nil)
	up := account.Status{AccountStatus: account.StatusAuthenticated, Substatus: account.SubstatusConnected}
	down := account.Status{AccountStatus: account.StatusLoading, Substatus: account.SubstatusConnecting,
		Message: "disconnected from WhatsApp; reconnecting"}
	eng := &fakeEngine{st: up, phone: "15550001111"}
	startAgent(t, cfg, ns, "flappy", eng)
	testenv.Eventually(t, "connected in status", func() error {
		if c := authenticated(get(t, ns, "flappy")); c == nil || c.Reason != agent.ReasonConnected {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	before := get(t, ns, "flappy").ResourceVersion
	w := watchInstance(t, ns, "flappy", before)
	defer w.Stop()

	tick := time.NewTicker(100 * time.Millisecond)
	for i := range 60 {
		<-tick.C
		if i%2 == 0 {
			eng.set(down, "15550001111")
		} else {
			eng.set(up, "15550001111")
		}
	}
	tick.Stop()
	settled := time.Now()
	writes := 0
	var last *v1alpha1.MessengerInstance
	deadline := time.After(testenv.Wait)
	for last == nil || authenticated(last).Reason != agent.ReasonConnected || time.Since(settled) < quietWindow {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Modified {
				writes++
				last = typedFrom(t, ev.Object)
			}
		case <-time.After(time.Until(settled.Add(quietWindow))):
			if last == nil {
				t.Fatal("no status write after 60 connection changes")
			}
		case <-deadline:
			t.Fatalf("no settled status: last %+v", last.Status)
		}
	}
	t.Logf("60 connection changes in 6 s: %d status writes seen by the API server (bound %d)", writes, bound)
	if writes > bound {
		t.Errorf("%d status writes, want at most %d", writes, bound)
	}
	if writes < 2 {
		t.Errorf("%d status writes: the drops were hidden", writes)
	}
	evs := &eventsv1.EventList{}
	if err := k8s.List(context.Background(), evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, e := range evs.Items {
		if e.Regarding.Name == "flappy" && e.ReportingController == "messenger-operator.io/instance" {
			reasons[e.Reason]++
		}
	}
	if reasons[agent.EventConnectionLost] == 0 || reasons[agent.EventReconnected] == 0 ||
		reasons[agent.EventConnectionLost]+reasons[agent.EventReconnected] > writes {
		t.Errorf("events %v: want ConnectionLost and Reconnected, no more than the %d writes", reasons, writes)
	}
}

// quietWindow is how long after the last change the test watches for late writes: longer than
// the hold after the writes a 6 s flap allows.
const quietWindow = 8 * time.Second

// typedFrom converts a watched object into a MessengerInstance.
func typedFrom(t *testing.T, obj runtime.Object) *v1alpha1.MessengerInstance {
	t.Helper()
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		t.Fatalf("watched %T", obj)
	}
	mi := &v1alpha1.MessengerInstance{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, mi); err != nil {
		t.Fatal(err)
	}
	return mi
}

// watchInstance watches the MessengerInstance from resourceVersion rv.
func watchInstance(t *testing.T, ns, name, rv string) watch.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	gvr := schema.GroupVersionResource{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version,
		Resource: "messengerinstances"}
	w, err := dyn.Resource(gvr).Namespace(ns).Watch(context.Background(), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv})
	if err != nil {
		t.Fatal(err)
	}
	return w
}
