package cmd

import (
	"encoding/json"
	"fmt"
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

// Many sends to a sandbox phone, whose receipts come quickly (often while the send is still being
// recorded), then read receipts: for every message the acks in the webhook payloads, in the order
// they arrive, only move forward, and /webhookStatus lists the payloads that carried them.
func TestWebhookAcksOnlyMoveForward(t *testing.T) { onEachDatabase(t, testWebhookAcksOnlyMoveForward) }

func testWebhookAcksOnlyMoveForward(t *testing.T, database string) {
	var mu sync.Mutex
	acks := map[string][]string{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p chat.WebhookPayload
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		defer mu.Unlock()
		for _, a := range p.Ack {
			acks[a.ID] = append(acks[a.ID], a.Status)
		}
	}))
	defer rcv.Close()
	sb := startSandbox(t)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		webhookURL: rcv.URL, instanceName: "acks", allowPrivate: true, maxFileBytes: 1 << 20, mediaRetention: time.Hour,
		webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()
	call(t, "POST", base+"/settings/ackNotificationsOn", `{"ackNotificationsOn":1}`)
	var qr string
	eventually(t, "a QR code", func() bool {
		st := call(t, "GET", base+"/status", "")
		uri, _ := st["qrCode"].(string)
		if st["accountStatus"] != "got qr code" || uri == "" {
			return false
		}
		qr = decodeQR(t, uri)
		return true
	})
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550001111/scan", map[string]string{"qr": qr}, nil)
	eventually(t, "authentication", func() bool { return call(t, "GET", base+"/status", "")["accountStatus"] == "authenticated" })

	const n = 30
	var ids, waIDs []string
	for i := range n {
		sent := call(t, "POST", base+"/sendMessage", fmt.Sprintf(`{"phone":"15550002222","body":"m%d"}`, i))
		id, _ := sent["id"].(string)
		ids = append(ids, id)
		waIDs = append(waIDs, id[strings.LastIndex(id, "_")+1:])
	}
	var bob struct{ Messages []sandbox.PhoneMessage }
	eventually(t, "every message on Bob's phone", func() bool {
		sandboxCall(t, sb, "GET", "/sandbox/phones/15550002222/messages", nil, &bob)
		return len(bob.Messages) >= n
	})
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/read", map[string]any{"ids": waIDs}, nil)
	eventually(t, "a viewed ack for every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if s := acks[id]; len(s) == 0 || s[len(s)-1] != chat.AckViewed {
				return false
			}
		}
		return true
	})
	mu.Lock()
	for _, id := range ids {
		for i := 1; i < len(acks[id]); i++ {
			if chat.AckRank(acks[id][i]) <= chat.AckRank(acks[id][i-1]) {
				t.Errorf("acks of %s went backwards: %v", id, acks[id])
				break
			}
		}
	}
	mu.Unlock()
	st := call(t, "GET", base+"/webhookStatus?msgId="+ids[0], "")
	payloads, _ := st["payloads"].([]any)
	if len(payloads) == 0 {
		t.Fatalf("webhookStatus = %v", st)
	}
	for _, raw := range payloads {
		if p := raw.(map[string]any); p["delivered"] != true && p["attempts"] == 0.0 {
			t.Errorf("payload of %s = %v", ids[0], p)
		}
	}
}
