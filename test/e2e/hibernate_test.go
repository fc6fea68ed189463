package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/test/e2e"
)

// count returns how many incoming messages with body reached the receiver.
func (r *receiver) count(body string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.payloads {
		for _, m := range p.Messages {
			if m.Body == body && !m.FromMe {
				n++
			}
		}
	}
	return n
}

// waitAsleep waits until the instance is hibernated: Hibernated=True, Ready=True (Hibernated),
// kstatus Current, and no pod process.
func waitAsleep(t *testing.T, h *e2e.Harness) {
	t.Helper()
	waitFor(t, "hibernated: no process, Hibernated=True, Ready (Hibernated), kstatus Current", func() error {
		mi := get(t, h.Client)
		hib := meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionHibernated)
		ready := meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionReady)
		if h.Node.Pod(ns, podName) != nil || hib == nil || hib.Status != metav1.ConditionTrue ||
			ready == nil || ready.Status != metav1.ConditionTrue || ready.Reason != "Hibernated" {
			return fmt.Errorf("process %v, Hibernated %+v, Ready %+v", h.Node.Pod(ns, podName) != nil, hib, ready)
		}
		return check(kstatus(t, mi) == status.CurrentStatus, "kstatus "+string(kstatus(t, mi)))
	})
}

// Hibernation with the real binary and the gateway as a real process: a paired instance with
// spec.hibernation.idleAfter goes idle and is scaled to zero (its process stops, the session
// stays on its volume); Bob writes while it sleeps (the sandbox keeps the message, as WhatsApp
// does); a Chat API call through the gateway wakes it and is answered; the kept message reaches
// the webhook once; idle again, it sleeps again.
func TestHibernateWakeByCall(t *testing.T) {
	ctx := context.Background()
	h, sb := startWithPhones(t)
	hook := newReceiver(t)
	k := h.Client
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.MessengerInstanceSpec{NetworkURL: h.Sandbox.URL(), Webhook: &v1alpha1.WebhookSpec{URL: hook.URL},
			Hibernation: &v1alpha1.HibernationSpec{IdleAfter: metav1.Duration{Duration: 4 * time.Second}}}}
	if err := k.Create(ctx, mi); err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, h, "--wake-timeout=60s")

	// Paired, then idle: hibernated.
	scan(t, h, sb, "")
	waitAsleep(t, h)
	if mi := get(t, k); mi.Status.AccountStatus == "got qr code" {
		t.Fatalf("the hibernated instance lost its session: %+v", mi.Status)
	}

	// Bob writes while it sleeps; the sandbox keeps the message for the linked device.
	sb.call("POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]string{"to": instancePhone, "body": "while you slept"}, nil)

	// A Chat API call through the gateway wakes it and is answered.
	api := &instanceAPI{t: t, h: h, base: gw.base + "/" + ns + "/" + name, token: token(t, k)}
	start := time.Now()
	st := api.call("GET", "/status", nil)
	t.Logf("call → answered by the woken instance in %v", time.Since(start))
	if st["accountStatus"] == nil || st["accountStatus"] == "got qr code" {
		t.Fatalf("GET /status through the gateway after the wake: %v", st)
	}
	if mi := get(t, k); mi.Status.Hibernation == nil || mi.Status.Hibernation.LastWakeReason != "Requested" {
		t.Errorf("status.hibernation after the wake: %+v", mi.Status.Hibernation)
	}

	// The message kept while it slept reaches the webhook once.
	waitFor(t, "the kept message at the webhook", func() error { return check(hook.got("while you slept"), "not yet") })
	// Idle again: it sleeps again, and nothing was delivered twice.
	waitAsleep(t, h)
	if n := hook.count("while you slept"); n != 1 {
		t.Errorf("the kept message reached the webhook %d times, want once", n)
	}
	if mi := get(t, k); mi.Status.AccountStatus == "got qr code" {
		t.Fatalf("the session was lost across hibernation: %+v", mi.Status)
	}
}
