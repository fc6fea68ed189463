package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/flap"
)

// Reasons of the Events the agent records on connection transitions.
const (
	// EventConnectionLost: the account was connected and is not any more.
	EventConnectionLost = "ConnectionLost"
	// EventConnectionStale: the connection is open but WhatsApp stopped answering.
	EventConnectionStale = "ConnectionStale"
	// EventReconnected: the account is connected again after a loss.
	EventReconnected = "Reconnected"
)

// reportingController names the agent in the Events it records.
const reportingController = "messenger-operator.io/instance"

// flapKey is the part of a report whose changes are rate-limited while the connection flaps.
type flapKey struct {
	accountStatus string
	condStatus    metav1.ConditionStatus
	condReason    string
}

func keyOf(r report) flapKey {
	return flapKey{accountStatus: r.accountStatus, condStatus: r.condStatus, condReason: r.condReason}
}

// exempt tells the reports that never wait: a QR code must reach status within a second (its rate
// is WhatsApp's, one every 20 s at most).
func exempt(r report) bool { return r.accountStatus == account.StatusGotQRCode }

// flapState rate-limits the agent's status writes and Events during flapping: changes of the
// account's state are written at once after a quiet period, then no more often than an
// exponentially growing hold allows, the latest state winning; the settled state is always
// written. Changes of other fields (counters, QR codes, the webhook URL) are not held.
type flapState struct {
	clock flap.Clock
	gate  *flap.Gate[flapKey]
	held  *time.Timer // fires when a held change is due (nil: none)
	until time.Time   // when held fires (by clock)
	lost  bool        // a ConnectionLost/Stale event was recorded and no Reconnected since
	sink  eventSink
}

// eventSink records Kubernetes Events about the MessengerInstance.
type eventSink interface {
	record(ctx context.Context, mi *v1alpha1.MessengerInstance, typ, reason, note string) error
}

// newFlapState returns the agent's flap state with the real clock and an Event sink on cfg.
func newFlapState(cfg *rest.Config, identity string) (flapState, error) {
	cli, err := eventsv1client.NewForConfig(cfg)
	if err != nil {
		return flapState{}, fmt.Errorf("kube agent events client: %w", err)
	}
	return flapState{clock: flap.RealClock{}, gate: flap.NewGate[flapKey](flap.New(0, 0, 0)),
		sink: apiEvents{client: cli, instance: identity}}, nil
}

// admit decides whether r may be written now. When a change of the account's state is held off
// it arms the hold timer and returns false.
func (f *flapState) admit(r report) bool {
	if exempt(r) {
		return true
	}
	now := f.clock.Now()
	ok, retry := f.gate.Offer(now, keyOf(r))
	if ok || retry.IsZero() {
		return true // a due change, or no change of the state (other fields are not held)
	}
	f.until = retry
	f.arm(retry.Sub(now))
	return false
}

// arm makes the hold timer fire after d.
func (f *flapState) arm(d time.Duration) {
	if f.held == nil {
		f.held = time.NewTimer(d)
		return
	}
	f.held.Reset(d)
}

// due is the hold timer's channel (nil when nothing is held).
func (f *flapState) due() <-chan time.Time {
	if f.held == nil {
		return nil
	}
	return f.held.C
}

// written records that r was written after a report of prev (nil: none) and returns the Event
// the transition calls for, if any.
func (f *flapState) written(prev *report, r report) (typ, reason string) {
	key := keyOf(r)
	switch {
	case exempt(r):
		f.gate.Bypassed(key)
	default:
		if last, ok := f.gate.Last(); !ok || last != key {
			f.gate.Sent(f.clock.Now(), key)
		}
	}
	wasUp := prev != nil && prev.condStatus == metav1.ConditionTrue
	switch {
	case wasUp && r.condStatus != metav1.ConditionTrue && r.condReason == ReasonStale:
		f.lost = true
		return corev1.EventTypeWarning, EventConnectionStale
	case wasUp && r.condStatus != metav1.ConditionTrue:
		f.lost = true
		return corev1.EventTypeWarning, EventConnectionLost
	case f.lost && r.condStatus == metav1.ConditionTrue:
		f.lost = false
		return corev1.EventTypeNormal, EventReconnected
	}
	return "", ""
}

// apiEvents records events.k8s.io Events through the API server.
type apiEvents struct {
	client   eventsv1client.EventsGetter
	instance string
}

func (s apiEvents) record(ctx context.Context, mi *v1alpha1.MessengerInstance, typ, reason, note string) error {
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", mi.Name, time.Now().UnixNano()), Namespace: mi.Namespace},
		EventTime:  metav1.NowMicro(), ReportingController: reportingController,
		ReportingInstance: truncate(s.instance, 128), Action: "Connect", Reason: reason, Type: typ,
		Note: truncate(note, 1024),
		Regarding: corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "MessengerInstance",
			Name: mi.Name, Namespace: mi.Namespace, UID: mi.UID, ResourceVersion: mi.ResourceVersion},
	}
	if _, err := s.client.Events(mi.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("recording event %s on MessengerInstance %s/%s: %w", reason, mi.Namespace, mi.Name, err)
	}
	return nil
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
