package sandbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
)

// A persistent sandbox restarted while texts to a phone are in flight loses none of them: each
// text the sandbox accepted is on the phone's list once after the restart. A phone that had
// decrypted a text (its Signal session moved on) but not yet listed it when its list was saved
// dropped the redelivered copy ("received message with old counter").
func TestRestartWithTextsInFlightToAPhone(t *testing.T) {
	n := startPersistent(t)
	alice := n.aliceLinked()
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
		n.stop()
		wg.Wait()
		n.start()
		reconnect(t, alice, n.network)
	}
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
