package instance_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// inboundTotal is how many texts the phone sends while the instance is away.
const inboundTotal = 500

// Messages sent to the account while the instance is killed with SIGKILL arrive once each, in
// the phone's order, after it is started again.
func TestInboundWhileKilled(t *testing.T) {
	sb, dir, addr, base, proc := startPaired(t)
	_ = proc.Process.Signal(os.Kill)
	_ = proc.Wait()
	sendFromPhone(t, sb, "while killed")
	startInstance(t, addr, dir, sb.URL())
	checkInbound(t, base, "while killed")
}

// Messages sent to the account while the instance is suspended (SIGSTOP) arrive once each, in
// the phone's order, after it continues (SIGCONT).
func TestInboundWhileSuspended(t *testing.T) {
	sb, _, _, base, proc := startPaired(t)
	if err := proc.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = proc.Process.Signal(syscall.SIGCONT)
		}
	})
	sendFromPhone(t, sb, "while suspended")
	time.Sleep(5 * time.Second) // suspended "for a while": the server's view of the socket ages
	resumed = true
	if err := proc.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	checkInbound(t, base, "while suspended")
}

// sendFromPhone sends inboundTotal numbered texts from 15550002222 to the instance's account,
// one after the other.
func sendFromPhone(t *testing.T, sb *sandbox.Server, prefix string) {
	t.Helper()
	for i := range inboundTotal {
		body := fmt.Sprintf("%s %03d", prefix, i)
		var m sandbox.PhoneMessage
		if code := do(t, "POST", sb.URL()+"/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": body}, &m); code != 200 {
			t.Fatalf("the phone sending %q: %d", body, code)
		}
	}
}

// journaled reads every message of GET /messages, paging by lastMessageNumber.
func journaled(t *testing.T, base string) []map[string]any {
	t.Helper()
	var all []map[string]any
	after := 0.0
	for {
		var page struct {
			Messages          []map[string]any
			LastMessageNumber float64
		}
		if code := do(t, "GET", fmt.Sprintf("%s/messages?lastMessageNumber=%d&limit=1000", base, int64(after)), nil, &page); code != 200 {
			return nil
		}
		if len(page.Messages) == 0 {
			return all
		}
		all = append(all, page.Messages...)
		after = page.LastMessageNumber
	}
}

// checkInbound waits until the journal holds inboundTotal texts with prefix, then checks that
// each is there once and in the order the phone sent them.
func checkInbound(t *testing.T, base, prefix string) {
	t.Helper()
	matching := func() []string {
		var bodies []string
		for _, m := range journaled(t, base) {
			if body, _ := m["body"].(string); m["fromMe"] == false && strings.HasPrefix(body, prefix+" ") {
				bodies = append(bodies, body)
			}
		}
		return bodies
	}
	eventually(t, fmt.Sprintf("%d texts in GET /messages", inboundTotal), func() bool { return len(matching()) >= inboundTotal })
	time.Sleep(time.Second) // a late duplicate would show now
	got := matching()
	if len(got) != inboundTotal {
		t.Fatalf("GET /messages holds %d texts %q…, want %d", len(got), prefix, inboundTotal)
	}
	for i, body := range got {
		if want := fmt.Sprintf("%s %03d", prefix, i); body != want {
			t.Fatalf("message %d of the journal is %q, want %q (the phone's order, each once)", i, body, want)
		}
	}
}
