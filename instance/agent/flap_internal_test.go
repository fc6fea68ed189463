package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/flap"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// simClock is a simulated clock the test moves.
type simClock struct{ t time.Time }

func (c *simClock) Now() time.Time { return c.t }

// statusRecorder stands in for the API server: it counts status patches and keeps their states.
type statusRecorder struct {
	dynamic.ResourceInterface
	mu     sync.Mutex
	writes []string // "accountStatus/reason" of each patch
}

func (r *statusRecorder) Patch(_ context.Context, _ string, _ types.PatchType, body []byte, _ metav1.PatchOptions,
	_ ...string) (*unstructured.Unstructured, error) {
	var doc struct {
		Status struct {
			AccountStatus string             `json:"accountStatus"`
			Conditions    []metav1.Condition `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.writes = append(r.writes, doc.Status.AccountStatus+"/"+doc.Status.Conditions[0].Reason)
	r.mu.Unlock()
	return &unstructured.Unstructured{}, nil
}

// eventRecorder counts the Events by reason.
type eventRecorder struct{ reasons []string }

func (e *eventRecorder) record(_ context.Context, _ *v1alpha1.MessengerInstance, _, reason, _ string) error {
	e.reasons = append(e.reasons, reason)
	return nil
}

// flipEngine is an account.Engine whose status the test sets.
type flipEngine struct {
	account.NoEngine
	st account.Status
}

func (e *flipEngine) Status() account.Status { return e.st }

func (e *flipEngine) Me(context.Context) (account.Me, error) {
	return account.Me{ID: "15550001111@c.us", Phone: "15550001111"}, nil
}

// Ten minutes of an engine whose connection drops every 2 s (connected for 1.5 s, connecting
// for 0.5 s), run on a simulated clock: the agent writes status at most 17 times during the flap
// (at once, then holds of 1, 2, 4, …, 32 s, then once a minute), records at most as many Events,
// and ends with the settled state written.
func TestFlappingEngineGivesBoundedStatusWrites(t *testing.T) {
	const bound = 17
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	clock := &simClock{t: time.Unix(1_700_000_000, 0)}
	res := &statusRecorder{}
	evs := &eventRecorder{}
	a := &Agent{opts: Options{Name: "flappy", Namespace: "ns", Store: st}, log: slog.New(slog.DiscardHandler),
		res: res, lease: &Lease{held: true},
		current: &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Name: "flappy", Namespace: "ns"}},
		flap:    flapState{clock: clock, gate: flap.NewGate[flapKey](flap.New(0, 0, 0)), sink: evs}}
	defer func() {
		if a.flap.held != nil {
			a.flap.held.Stop()
		}
	}()
	up := account.Status{AccountStatus: account.StatusAuthenticated, Substatus: account.SubstatusConnected}
	down := account.Status{AccountStatus: account.StatusLoading, Substatus: account.SubstatusConnecting,
		Message: "disconnected from WhatsApp; reconnecting"}
	eng := &flipEngine{st: up}
	ctx := context.Background()
	start := clock.t
	sync := func() {
		if err := a.sync(ctx, eng); err != nil {
			t.Fatal(err)
		}
	}
	sync() // connected before the flap
	// advance moves the clock to at, firing the held change (as writeLoop's timer would) first.
	advance := func(at time.Time) {
		for !a.flap.until.IsZero() && !a.flap.until.After(at) {
			clock.t, a.flap.until = a.flap.until, time.Time{}
			sync()
		}
		clock.t = at
	}
	flapStart := start.Add(time.Minute)
	for at := flapStart; at.Before(flapStart.Add(10 * time.Minute)); at = at.Add(2 * time.Second) {
		advance(at)
		eng.st = down
		sync()
		advance(at.Add(500 * time.Millisecond))
		eng.st = up
		sync()
	}
	advance(flapStart.Add(time.Hour)) // settle
	writes := len(res.writes) - 1
	t.Logf("600 connection drops in 10 simulated minutes: %d status writes (bound %d), events %v",
		writes, bound, evs.reasons)
	if writes > bound {
		t.Errorf("%d status writes during the flap, want at most %d: %v", writes, bound, res.writes)
	}
	if writes < 2 || res.writes[1] != "loading/Connecting" {
		t.Errorf("the first drop was not written at once: %v", res.writes)
	}
	if last := res.writes[len(res.writes)-1]; last != "authenticated/Connected" {
		t.Errorf("last status written %q, want the settled authenticated/Connected", last)
	}
	if len(evs.reasons) > writes || len(evs.reasons) < 2 || evs.reasons[0] != EventConnectionLost ||
		evs.reasons[len(evs.reasons)-1] != EventReconnected {
		t.Errorf("events %v: want ConnectionLost first, Reconnected last, no more than the writes", evs.reasons)
	}
}

// A stale connection gets its own reason and Event; QR codes are never held.
func TestStaleReasonAndQRNeverHeld(t *testing.T) {
	c, reason, _ := condition(account.Status{AccountStatus: account.StatusAuthenticated, Substatus: account.SubstatusStale})
	if c != metav1.ConditionFalse || reason != ReasonStale {
		t.Errorf("stale: %s %s", c, reason)
	}
	clock := &simClock{t: time.Unix(1_700_000_000, 0)}
	f := flapState{clock: clock, gate: flap.NewGate[flapKey](flap.New(0, 0, 0))}
	defer func() {
		if f.held != nil {
			f.held.Stop()
		}
	}()
	upR := report{accountStatus: account.StatusAuthenticated, condStatus: metav1.ConditionTrue, condReason: ReasonConnected}
	staleR := report{accountStatus: account.StatusAuthenticated, condStatus: metav1.ConditionFalse, condReason: ReasonStale}
	if !f.admit(upR) {
		t.Fatal("first report held")
	}
	f.written(nil, upR)
	if f.admit(staleR) {
		t.Fatal("a change right after a write was not held")
	}
	if !f.admit(report{accountStatus: account.StatusGotQRCode, qrText: "2@qr", condStatus: metav1.ConditionFalse,
		condReason: ReasonAwaitingScan}) {
		t.Error("a QR code was held")
	}
	if want := clock.t.Add(time.Second); !f.until.Equal(want) {
		t.Errorf("held until %v, want %v", f.until, want)
	}
	clock.t = f.until
	if !f.admit(staleR) {
		t.Fatal("the held change was not admitted when due")
	}
	if typ, reason := f.written(&upR, staleR); typ != "Warning" || reason != EventConnectionStale {
		t.Errorf("event %s %s, want Warning %s", typ, reason, EventConnectionStale)
	}
	if _, reason := f.written(&staleR, upR); reason != EventReconnected {
		t.Errorf("event %s, want %s", reason, EventReconnected)
	}
}
