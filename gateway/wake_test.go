package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/gateway"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
)

// sleeper is an instance double that answers /readyz with 503 until it is woken, and refuses
// every other call while asleep (so a call the gateway did not hold fails the test).
type sleeper struct {
	awake  atomic.Bool
	served atomic.Int32
	drop   bool // asleep, calls other than /readyz find no server (the connection is closed)
}

func (s *sleeper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.awake.Load() && s.drop && r.URL.Path != "/readyz" {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	if !s.awake.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.URL.Path == "/readyz" {
		return
	}
	s.served.Add(1)
	_ = json.NewEncoder(w).Encode(seen{Upstream: "sleeper", Path: r.URL.Path})
}

// hibernatedInstance creates an instance with spec.hibernation whose status says Hibernated
// (reason), its token Secret, and a sleeper as its upstream.
func hibernatedInstance(f *fixture, name string, status metav1.ConditionStatus, reason string) *sleeper {
	f.t.Helper()
	s := &sleeper{}
	srv := httptest.NewServer(s)
	f.t.Cleanup(srv.Close)
	f.up.mu.Lock()
	f.up.srv[name] = srv
	f.up.mu.Unlock()
	mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: v1alpha1.MessengerInstanceSpec{Hibernation: &v1alpha1.HibernationSpec{IdleAfter: metav1.Duration{Duration: time.Minute}}}}
	f.create(mi)
	mi.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionHibernated, Status: status, Reason: reason,
		Message: "test", LastTransitionTime: metav1.Now()}}
	if err := f.k.Status().Update(context.Background(), mi); err != nil {
		f.t.Fatal(err)
	}
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name + "-token"}, Data: map[string][]byte{"token": []byte(name + "-secret")}})
	return s
}

// annotations reads the instance's annotations.
func (f *fixture) annotations(name string) map[string]string {
	f.t.Helper()
	mi := &v1alpha1.MessengerInstance{}
	if err := f.k.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: name}, mi); err != nil {
		f.t.Fatal(err)
	}
	return mi.Annotations
}

// A call to a hibernated instance asks the operator to wake it (the wake annotation, once for
// all the calls waiting), is held while the instance starts, and is answered once /readyz says
// it serves. The test plays the operator: it wakes the double when the annotation appears.
func TestWakeHoldsCallsUntilServing(t *testing.T) {
	requireEnv(t)
	var s *sleeper
	f := startFixture(t, gateway.Options{WakeTimeout: time.Minute}, func(f *fixture) {
		s = hibernatedInstance(f, "dozy", metav1.ConditionTrue, controllers.ReasonIdle)
	})
	operator := make(chan string, 1)
	go playOperator(f, "dozy", s, operator)
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Go(func() {
			var got seen
			codes[i] = f.call("POST", "/"+f.ns+"/dozy/sendMessage", "dozy-secret", nil, &got).StatusCode
			if got.Path != "/sendMessage" {
				t.Errorf("call %d reached %+v", i, got)
			}
		})
	}
	wg.Wait()
	if fmt.Sprint(codes) != "[200 200 200]" {
		t.Fatalf("held calls answered %v, want 200 each", codes)
	}
	if v := <-operator; v == "" {
		t.Fatal("no wake annotation")
	}
	if s.served.Load() != 3 {
		t.Errorf("the instance served %d calls, want 3", s.served.Load())
	}
	ann := f.annotations("dozy")
	if _, err := time.Parse(time.RFC3339Nano, ann[v1alpha1.LastCallAnnotation]); err != nil {
		t.Errorf("last-call annotation %q: %v", ann[v1alpha1.LastCallAnnotation], err)
	}
}

// playOperator wakes the double when the wake annotation appears, and sends its value.
func playOperator(f *fixture, name string, s *sleeper, operator chan<- string) {
	defer close(operator)
	for range time.Tick(20 * time.Millisecond) {
		if v := f.annotations(name)[v1alpha1.WakeAnnotation]; v != "" {
			s.awake.Store(true)
			operator <- v
			return
		}
	}
}

// An instance the cache still shows awake but that has no pod any more (it was just scaled to
// zero): the gateway requests a wake and a call without a body is held and sent again.
func TestUnreachableInstanceIsWoken(t *testing.T) {
	requireEnv(t)
	var s *sleeper
	f := startFixture(t, gateway.Options{WakeTimeout: time.Minute}, func(f *fixture) {
		s = hibernatedInstance(f, "justasleep", metav1.ConditionFalse, controllers.ReasonActive)
		s.drop = true
	})
	operator := make(chan string, 1)
	go playOperator(f, "justasleep", s, operator)
	var got seen
	if resp := f.call("GET", "/"+f.ns+"/justasleep/status", "justasleep-secret", nil, &got); resp.StatusCode != 200 || got.Path != "/status" {
		t.Fatalf("status %d, upstream saw %+v; want the call held and answered", resp.StatusCode, got)
	}
	if v := <-operator; v == "" {
		t.Fatal("no wake annotation")
	}
}

// An instance that does not serve within the bound: the call gets 503 with Retry-After.
func TestWakeTimeoutIs503WithRetryAfter(t *testing.T) {
	requireEnv(t)
	f := startFixture(t, gateway.Options{WakeTimeout: 300 * time.Millisecond}, func(f *fixture) {
		hibernatedInstance(f, "comatose", metav1.ConditionFalse, controllers.ReasonWaking)
	})
	resp := f.call("GET", "/"+f.ns+"/comatose/status", "comatose-secret", nil, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Waking already: the gateway did not ask again.
	if v := f.annotations("comatose")[v1alpha1.WakeAnnotation]; v != "" {
		t.Errorf("wake annotation %q on an instance already waking", v)
	}
	// An unauthenticated call never wakes anything.
	if resp := f.call("GET", "/"+f.ns+"/comatose/status", "wrong", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token = %d, want 401", resp.StatusCode)
	}
}

// Calls to an awake instance with spec.hibernation stamp the last-call annotation (activity
// for the operator's idle clock).
func TestCallsStampLastCall(t *testing.T) {
	requireEnv(t)
	var s *sleeper
	f := startFixture(t, gateway.Options{}, func(f *fixture) {
		s = hibernatedInstance(f, "lively", metav1.ConditionFalse, controllers.ReasonActive)
		s.awake.Store(true)
	})
	before := time.Now().Add(-time.Second)
	if resp := f.call("GET", "/"+f.ns+"/lively/status", "lively-secret", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	testenv.Eventually(t, "the last-call stamp", func() error {
		raw := f.annotations("lively")[v1alpha1.LastCallAnnotation]
		stamp, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil || stamp.Before(before) {
			return fmt.Errorf("last-call %q (%v)", raw, err)
		}
		return nil
	})
	if v := f.annotations("lively")[v1alpha1.WakeAnnotation]; v != "" {
		t.Errorf("a call to an awake instance requested a wake (%q)", v)
	}
}
