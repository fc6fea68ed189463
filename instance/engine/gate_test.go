package engine_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/engine"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// testGate is a gate the test opens and closes.
type testGate struct {
	mu      sync.Mutex
	open    bool
	changed chan struct{}
}

func (g *testGate) Allowed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

func (g *testGate) Changed() <-chan struct{} { return g.changed }

func (g *testGate) set(open bool) {
	g.mu.Lock()
	g.open = open
	g.mu.Unlock()
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// startGated runs an engine behind gate on a fresh store against the harness's sandbox.
func (h *harness) startGated(gate engine.Gate) {
	h.t.Helper()
	ctx := context.Background()
	dir := h.t.TempDir()
	var err error
	if h.store, err = store.Open(ctx, store.Options{DataDir: dir}); err != nil {
		h.t.Fatal(err)
	}
	if h.media, err = media.Open(dir+"/media", "token"); err != nil {
		h.t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h.eng, err = engine.New(ctx, engine.Options{Store: h.store, Media: h.media, NetworkURL: h.sb.URL(), Logger: logger, Gate: gate})
	if err != nil {
		h.t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	h.stop, h.done = cancel, make(chan struct{})
	go func() { defer close(h.done); _ = h.eng.Run(runCtx) }()
	h.t.Cleanup(h.shutdown)
}

// The gate holds the engine offline until it opens, drops the connection when it closes, and
// every status change is announced to subscribers.
func TestGateAndChangeNotifications(t *testing.T) {
	sb, err := sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	h := &harness{t: t, sb: sb}
	h.admin("POST", "/sandbox/phones", map[string]string{"phone": "15550001111", "name": "Instance"}, nil)
	gate := &testGate{changed: make(chan struct{}, 1)}
	h.startGated(gate)

	changes, unsubscribe := h.eng.Subscribe()
	defer unsubscribe()
	standby := func(s account.Status) bool {
		return s.AccountStatus == account.StatusLoading && s.Substatus == account.SubstatusOffline &&
			strings.Contains(s.Message, "lease")
	}
	h.waitStatus(standby)
	if err := h.eng.Logout(context.Background()); err == nil {
		t.Error("logout while the gate is closed succeeded")
	}

	gate.set(true)
	select {
	case <-changes:
	case <-time.After(waitFor):
		t.Fatal("no change notification after the gate opened")
	}
	h.pair()

	gate.set(false)
	h.waitStatus(standby)
	// Re-opening connects the stored session again, without a new QR.
	gate.set(true)
	h.waitStatus(func(s account.Status) bool {
		if s.AccountStatus == account.StatusGotQRCode {
			t.Fatalf("a new QR code after re-opening the gate: the session was lost")
		}
		return s.AccountStatus == account.StatusAuthenticated
	})
}
