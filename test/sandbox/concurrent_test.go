package sandbox_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/internal/sessionguard"
)

// Two clients sending to each other at the same time, as fast as they can: every message
// arrives. Without sessionguard a send and a decryption overlapping on one device lose one of
// their Signal session updates and with it messages ("received message with old counter"); with
// it (as the instance and the sandbox phones use it) a conflicting write is refused and the
// message encrypted again.
func TestConcurrentBothWaysLoseNothing(t *testing.T) {
	_, alice, bob := aliceAndBob(t)
	sessionguard.Wrap(alice.cli.Store)
	sessionguard.Wrap(bob.cli.Store)
	// One text each way first: both starting a session at the same moment is a gap of its own
	// (docs/benchmarks.md, chaos).
	for _, w := range []struct {
		from, to *client
		phone    string
	}{{alice, bob, "15550002222"}, {bob, alice, "15550001111"}} {
		if _, err := w.from.cli.SendMessage(context.Background(), types.NewJID(w.phone, types.DefaultUserServer), text("warm-up")); err != nil {
			t.Fatal(err)
		}
		waitEvent(w.to, func(m *events.Message) bool { return m.Message.GetConversation() == "warm-up" })
	}
	const each = 200
	var wg sync.WaitGroup
	for _, dir := range []struct {
		from *client
		to   string
		tag  string
	}{{alice, "15550002222", "alice"}, {bob, "15550001111", "bob"}} {
		wg.Go(func() {
			jid := types.NewJID(dir.to, types.DefaultUserServer)
			for i := range each {
				for {
					_, err := dir.from.cli.SendMessage(context.Background(), jid, text(fmt.Sprintf("from %s %03d", dir.tag, i)))
					if err == nil {
						break
					}
					t.Logf("send %s %d: %v (sending again)", dir.tag, i, err)
				}
			}
		})
	}
	wg.Wait()
	for _, c := range []struct {
		cli *client
		tag string
	}{{bob, "from alice "}, {alice, "from bob "}} {
		deadline := time.Now().Add(time.Minute)
		for {
			got := received(c.cli, c.tag)
			if len(got) == each {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d texts %q… arrived", len(got), each, c.tag)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// received is the set of texts with prefix a client decrypted.
func received(c *client, prefix string) map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]bool{}
	for _, e := range c.events {
		if m, ok := e.(*events.Message); ok && strings.HasPrefix(m.Message.GetConversation(), prefix) {
			out[m.Message.GetConversation()] = true
		}
	}
	return out
}
