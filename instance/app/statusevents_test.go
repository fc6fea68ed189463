package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/flap"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// simClock is a simulated clock the test moves.
type simClock struct{ t time.Time }

func (c *simClock) Now() time.Time { return c.t }

// flipEngine is an engine whose status the test sets.
type flipEngine struct {
	account.NoEngine
	st account.Status
}

func (e *flipEngine) Status() account.Status { return e.st }

// Ten simulated minutes of a connection dropping every 2 s give at most 17 webhook status events
// (at once, then holds of 1, 2, 4, …, 32 s, then one a minute, and the settled state), the last
// one the settled state; without a webhook URL none are queued.
func TestFlappingGivesBoundedStatusEvents(t *testing.T) {
	const bound = 17
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	clock := &simClock{t: time.Unix(1_700_000_000, 0)}
	up := account.Status{AccountStatus: account.StatusAuthenticated, Substatus: account.SubstatusConnected}
	down := account.Status{AccountStatus: account.StatusLoading, Substatus: account.SubstatusConnecting}
	eng := &flipEngine{st: up}
	s := &statusEvents{eng: eng, store: st, log: slog.New(slog.DiscardHandler), clock: clock,
		gate: flap.NewGate[statusKey](flap.New(0, 0, 0)), allowed: func() bool { return true }}
	if s.step(ctx); outboxEvents(t, st) != 0 {
		t.Fatal("a status event was queued without a webhook URL")
	}
	if err := st.SetWebhookURL(ctx, "https://hooks.example/"); err != nil {
		t.Fatal(err)
	}
	var held time.Time
	step := func() {
		if retry := s.step(ctx); !retry.IsZero() {
			held = retry
		}
	}
	advance := func(at time.Time) { // fire the held change first, as the loop's timer would
		for !held.IsZero() && !held.After(at) {
			clock.t, held = held, time.Time{}
			step()
		}
		clock.t = at
	}
	step() // connected before the flap
	start := clock.t.Add(time.Minute)
	for at := start; at.Before(start.Add(10 * time.Minute)); at = at.Add(2 * time.Second) {
		advance(at)
		eng.st = down
		step()
		advance(at.Add(500 * time.Millisecond))
		eng.st = up
		step()
	}
	advance(start.Add(time.Hour))
	events := outboxEvents(t, st) - 1
	t.Logf("600 connection drops in 10 simulated minutes: %d webhook status events (bound %d)", events, bound)
	if events > bound || events < 2 {
		t.Errorf("%d status events during the flap, want 2 to %d", events, bound)
	}
	if last, _ := s.gate.Last(); last != (statusKey{account.StatusAuthenticated, account.SubstatusConnected}) {
		t.Errorf("last status event %+v, want the settled state", last)
	}
	// A QR code is reported at once even right after another event.
	eng.st = account.Status{AccountStatus: account.StatusGotQRCode, Substatus: account.SubstatusPairing, QR: "2@x"}
	before := outboxEvents(t, st)
	if step(); outboxEvents(t, st) != before+1 {
		t.Error("got qr code was held")
	}
	// A process without the Lease (a standby sharing the database) reports nothing.
	s.allowed = func() bool { return false }
	eng.st = down
	if step(); outboxEvents(t, st) != before+1 {
		t.Error("a standby process queued a status event")
	}
}

func outboxEvents(t *testing.T, st *store.Store) int {
	t.Helper()
	n, _, _, err := st.OutboxStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
