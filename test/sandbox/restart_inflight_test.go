package sandbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// A persistent sandbox restarted while texts to a phone are in flight loses none of them: each
// text the sandbox accepted is on the phone's list once after the restart. A phone that had
// decrypted a text (its Signal session moved on) but not yet listed it when its list was saved
// dropped the redelivered copy ("received message with old counter").
func TestRestartWithTextsInFlightToAPhone(t *testing.T) {
	dir := t.TempDir()
	srv, err := sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	n := &network{t: t, url: srv.URL()}
	n.addPhone("15550001111", "Alice")
	n.addPhone("15550002222", "Bob")
	alice := newClient(t, n)
	// Alice reconnects when the test says (reconnect, after each restart): whatsmeow's own
	// reconnect loop would race its connection handling under -race while the sandbox is away.
	alice.cli.EnableAutoReconnect = false
	alice.pair(n, "15550001111")
	bob := types.NewJID("15550002222", types.DefaultUserServer)
	var accepted []string
	for round := range 3 {
		first := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		wg.Add(1)
		go func() { // texts until the sandbox stops taking them
			defer wg.Done()
			for i := 0; ; i++ {
				resp, err := alice.cli.SendMessage(context.Background(), bob, text(fmt.Sprintf("round %d text %d", round, i)))
				if err != nil {
					return
				}
				mu.Lock()
				accepted = append(accepted, resp.ID)
				mu.Unlock()
				if i == 20 {
					close(first)
				}
			}
		}()
		<-first
		n.waitPhoneMessage("15550002222", func(phoneMessage) bool { return true })
		if err := srv.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		wg.Wait()
		if srv, err = sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0", DataDir: dir}); err != nil {
			t.Fatalf("restart: %v", err)
		}
		n = &network{t: t, url: srv.URL()}
		reconnect(t, alice, n)
	}
	t.Cleanup(func() { _ = srv.Close() })
	seen := map[string]int{}
	for deadline := time.Now().Add(waitFor); ; time.Sleep(50 * time.Millisecond) {
		clear(seen)
		for _, m := range n.phoneMessages("15550002222") {
			seen[m.ID]++
		}
		missing := 0
		for _, id := range accepted {
			if seen[id] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, id := range accepted {
		if seen[id] != 1 {
			t.Errorf("text %s is on Bob's phone %d times, want once", id, seen[id])
		}
	}
	t.Logf("%d texts accepted over 3 restarts", len(accepted))
}
