package cmd

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// Sends to groups the account cannot send to (one it is not in, one that does not exist) come
// first in the queue; the sends to people behind them are delivered all the same, and the bad
// ones end failed, with the reason, after one attempt each.
func TestQueueHeadOfLineAgainstSandbox(t *testing.T) { onEachDatabase(t, testQueueHeadOfLine) }

func testQueueHeadOfLine(t *testing.T, database string) {
	var mu sync.Mutex
	var acks []chat.Ack
	rcv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p chat.WebhookPayload
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		acks = append(acks, p.Ack...)
		mu.Unlock()
	}))
	defer rcv.Close()
	sb := startSandbox(t)
	sandboxCall(t, sb, "POST", "/sandbox/phones", map[string]string{"phone": "15550003333", "name": "Carol"}, nil)
	var bobsGroup struct{ Group string }
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/groups",
		map[string]any{"name": "Without the instance", "members": []string{"15550003333"}}, &bobsGroup)
	if !strings.HasSuffix(bobsGroup.Group, "@g.us") {
		t.Fatalf("Bob's group %q", bobsGroup.Group)
	}
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		webhookURL: rcv.URL, instanceName: "demo", allowPrivate: true, maxFileBytes: 1 << 20,
		mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()
	if r := call(t, "POST", base+"/settings/ackNotificationsOn", `{"ackNotificationsOn":1}`); r["error"] != nil {
		t.Fatalf("ackNotificationsOn: %v", r)
	}
	// Queued before the account is connected, so the bad sends really are at the head.
	bad := map[string]string{}
	for _, group := range []string{bobsGroup.Group, "120363444444444444@g.us"} {
		r := call(t, "POST", base+"/sendMessage", `{"chatId":"`+group+`","body":"is anyone there?"}`)
		id, _ := r["id"].(string)
		bad[id] = group
	}
	good := map[string]string{}
	for _, phone := range []string{"15550002222", "15550003333"} {
		r := call(t, "POST", base+"/sendMessage", `{"phone":"`+phone+`","body":"hello `+phone+`"}`)
		id, _ := r["id"].(string)
		good[phone] = id[strings.LastIndex(id, "_")+1:]
	}
	pairAgainstSandbox(t, base, sb)

	for phone, waID := range good {
		eventually(t, "the message on "+phone, func() bool {
			var msgs struct{ Messages []sandbox.PhoneMessage }
			sandboxCall(t, sb, "GET", "/sandbox/phones/"+phone+"/messages", nil, &msgs)
			for _, m := range msgs.Messages {
				if m.ID == waID && m.Body == "hello "+phone {
					return true
				}
			}
			return false
		})
	}
	reasons := map[string]string{}
	eventually(t, "failed acks of both bad sends", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range acks {
			if _, ok := bad[a.ID]; ok && a.Status == chat.AckFailed {
				reasons[a.ID] = a.Reason
			}
		}
		return len(reasons) == len(bad)
	})
	for id, reason := range reasons {
		want := "not participating"
		if bad[id] == "120363444444444444@g.us" {
			want = "does not exist"
		}
		if !strings.Contains(reason, want) {
			t.Errorf("send to %s failed with %q, want a reason saying %q", bad[id], reason, want)
		}
	}
	eventually(t, "an empty queue", func() bool {
		return call(t, "GET", base+"/showMessagesQueue", "")["totalMessages"] == float64(0)
	})
}
