package cmd

import (
	"testing"
	"time"
)

// A real connection to the sandbox dropped every 2 s for 20 s (10 disconnect faults, each a drop
// and a reconnection): the webhook gets at most 8 status events from the first drop to the settled
// state (at once, after holds of 1, 2, 4 and 8 s, the settled state after the 16 s hold, and slack
// for two), the last of them authenticated/connected, and never the same state twice in a row.
func TestFlappingConnectionBoundsWebhookStatusEvents(t *testing.T) {
	onEachDatabase(t, testFlappingConnectionBoundsWebhookStatusEvents)
}

func testFlappingConnectionBoundsWebhookStatusEvents(t *testing.T, database string) {
	const bound = 8
	sb := startSandbox(t)
	hooks := &statusHooks{}
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok",
		networkURL: sb, webhookURL: hooks.serve(t), instanceName: "flappy", allowPrivate: true,
		maxFileBytes: 1 << 20, mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour,
		shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()
	pairPhone(t, base, sb, "15550001111")
	eventually(t, "the connected status event", func() bool { return hooks.saw("connected") })
	hooks.mu.Lock()
	before := len(hooks.events)
	hooks.mu.Unlock()

	tick := time.NewTicker(2 * time.Second)
	for range 10 {
		sandboxCall(t, sb, "POST", "/sandbox/faults", map[string]any{"phone": "15550001111", "kind": "disconnect"}, nil)
		<-tick.C
	}
	tick.Stop()
	settledAt := time.Now()
	eventually(t, "connected again", func() bool { return call(t, "GET", base+"/status", "")["accountStatus"] == "authenticated" })
	// The settled state comes at the end of the hold running when the flap stopped (at most 16 s).
	var events int
	eventually(t, "the settled state as the last status event", func() bool {
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		evs := hooks.events[before:]
		events = len(evs)
		return events > 0 && evs[events-1].Substatus == "connected" && time.Since(settledAt) > 17*time.Second
	})
	hooks.mu.Lock()
	evs := append(hooks.events[:0:0], hooks.events[before:]...)
	hooks.mu.Unlock()
	t.Logf("10 disconnects in 20 s: %d webhook status events (bound %d): %v", len(evs), bound, evs)
	if len(evs) > bound || len(evs) < 2 {
		t.Errorf("%d status events, want 2 to %d", len(evs), bound)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].AccountStatus == evs[i-1].AccountStatus && evs[i].Substatus == evs[i-1].Substatus {
			t.Errorf("the same state twice in a row: %+v", evs[i])
		}
	}
}
