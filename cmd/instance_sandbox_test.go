package cmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/webhook"
	"github.com/messenger-operator/messenger-operator/internal/qrscan"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// startSandbox runs an in-process sandbox with two phones and returns its URL.
func startSandbox(t testing.TB) string {
	t.Helper()
	sb, err := sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	for phone, name := range map[string]string{"15550001111": "Instance", "15550002222": "Bob"} {
		sandboxCall(t, sb.URL(), "POST", "/sandbox/phones", map[string]string{"phone": phone, "name": name}, nil)
	}
	return sb.URL()
}

func sandboxCall(t testing.TB, base, method, path string, body, out any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		_ = json.Unmarshal(data, out)
	}
}

// decodeQR reads a data:image/png;base64 QR code as a phone's camera would.
func decodeQR(t testing.TB, uri string) string {
	t.Helper()
	text, err := qrscan.DecodeDataURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func eventually(t testing.TB, what string, ok func() bool) {
	t.Helper()
	testenv.EventuallyTrue(t, what, ok)
}

// The whole Chat API path against the sandbox, on SQLite and on PostgreSQL: QR in /status (the PNG
// is decoded and scanned by a sandbox phone), pairing, a send that reaches a phone with its acks in
// signed webhooks, a reply in /messages and in the webhook, /me, and logout to a fresh QR.
func TestInstanceAgainstSandbox(t *testing.T) { onEachDatabase(t, testInstanceAgainstSandbox) }

func testInstanceAgainstSandbox(t *testing.T, database string) {
	var mu sync.Mutex
	var hooks []chat.WebhookPayload
	key, _ := webhook.ParseSecret("whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=")
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		if r.Header.Get("webhook-signature") != webhook.Sign(key, r.Header.Get("webhook-id"), ts, body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			t.Errorf("webhook with a bad signature")
			return
		}
		var p chat.WebhookPayload
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		hooks = append(hooks, p)
		mu.Unlock()
	}))
	defer rcv.Close()
	sb := startSandbox(t)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		webhookURL: rcv.URL, webhookSecret: "whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=",
		instanceName: "demo", allowPrivate: true, maxFileBytes: 1 << 20, mediaRetention: time.Hour,
		webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()
	if r := call(t, "POST", base+"/settings/ackNotificationsOn", `{"ackNotificationsOn":1}`); r["error"] != nil {
		t.Fatalf("ackNotificationsOn: %v", r)
	}

	pairAgainstSandbox(t, base, sb)

	sent := call(t, "POST", base+"/sendMessage", `{"phone":"15550002222","body":"Hello, world! 🍏"}`)
	id, _ := sent["id"].(string)
	if sent["sent"] != true || !strings.HasPrefix(id, "true_15550002222@c.us_") {
		t.Fatalf("sendMessage = %v", sent)
	}
	waID := id[strings.LastIndex(id, "_")+1:]
	var bobMsgs struct{ Messages []sandbox.PhoneMessage }
	eventually(t, "the message on Bob's phone", func() bool {
		sandboxCall(t, sb, "GET", "/sandbox/phones/15550002222/messages", nil, &bobMsgs)
		return len(bobMsgs.Messages) >= 1 && bobMsgs.Messages[0].ID == waID && bobMsgs.Messages[0].Body == "Hello, world! 🍏"
	})
	// Acks only move forward (sent, delivered, viewed): wait for "delivered" before reading, or
	// the phone's read receipt could overtake its delivery receipt.
	seen := func() (map[string]bool, bool) {
		mu.Lock()
		defer mu.Unlock()
		acks, reply := map[string]bool{}, false
		for _, h := range hooks {
			for _, a := range h.Ack {
				if a.ID == id {
					acks[a.Status] = true
				}
			}
			for _, m := range h.Messages {
				reply = reply || (m.Body == "Ok!" && !m.FromMe)
			}
		}
		return acks, reply
	}
	eventually(t, "sent and delivered acks in webhooks", func() bool {
		acks, _ := seen()
		return acks["sent"] && acks["delivered"]
	})
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/read", map[string]any{"ids": []string{waID}}, nil)

	// A file as a data URI with a caption arrives as an image the phone can open.
	pngBytes, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
	fileSent := call(t, "POST", base+"/sendFile", `{"phone":"15550002222","body":"data:image/png;base64,`+
		base64.StdEncoding.EncodeToString(pngBytes)+`","filename":"dot.png","caption":"a dot"}`)
	fileID, _ := fileSent["id"].(string)
	if fileSent["sent"] != true || fileID == "" {
		t.Fatalf("sendFile = %v", fileSent)
	}
	sum := sha256.Sum256(pngBytes)
	eventually(t, "the image on Bob's phone", func() bool {
		sandboxCall(t, sb, "GET", "/sandbox/phones/15550002222/messages", nil, &bobMsgs)
		for _, m := range bobMsgs.Messages {
			if strings.HasSuffix(fileID, "_"+m.ID) && m.Type == "image" && m.Media != nil &&
				m.Media.SHA256 == hex.EncodeToString(sum[:]) && m.Media.Caption == "a dot" {
				return true
			}
		}
		return false
	})
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "Ok!"}, nil)

	eventually(t, "the reply in /messages", func() bool {
		m := call(t, "GET", base+"/messages?lastMessageNumber=1", "")
		msgs, _ := m["messages"].([]any)
		for _, raw := range msgs {
			if msg := raw.(map[string]any); msg["body"] == "Ok!" && msg["chatId"] == "15550002222@c.us" && msg["fromMe"] == false {
				return true
			}
		}
		return false
	})
	eventually(t, "the viewed ack and the reply in webhooks", func() bool {
		acks, reply := seen()
		return acks["viewed"] && reply
	})
	if me := call(t, "GET", base+"/me", ""); me["id"] != "15550001111@c.us" {
		t.Fatalf("me = %v", me)
	}
	// The metrics count the send and time the webhook deliveries.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`messenger_sends_total{outcome="sent"} 2`, `messenger_sends_total{outcome="failed"} 0`,
		"messenger_webhook_delivery_latency_seconds_count", `messenger_webhook_outbox_batches{state="dead"} 0`,
		"messenger_account_authenticated 1"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Logout gives a fresh QR code.
	if r := call(t, "POST", base+"/logout", ""); r["result"] == nil {
		t.Fatalf("logout = %v", r)
	}
	eventually(t, "a new QR after logout", func() bool { return call(t, "GET", base+"/status", "")["accountStatus"] == "got qr code" })
}

// Linking by phone code instead of QR: POST /pairingCode, the code typed on the phone.
func TestInstancePairingCode(t *testing.T) {
	sb := startSandbox(t)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), token: "tok", networkURL: sb,
		maxFileBytes: 1 << 20, mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()
	eventually(t, "pairing to start", func() bool { return call(t, "GET", base+"/status", "")["accountStatus"] == "got qr code" })
	if r := call(t, "POST", base+"/pairingCode", `{"phone":"abc"}`); r["error"] == nil {
		t.Fatalf("a bad phone was accepted: %v", r)
	}
	r := call(t, "POST", base+"/pairingCode", `{"phone":"15550001111"}`)
	code, _ := r["code"].(string)
	if len(strings.ReplaceAll(code, "-", "")) != 8 {
		t.Fatalf("pairingCode = %v", r)
	}
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550001111/link-code", map[string]string{"code": code}, nil)
	eventually(t, "authentication", func() bool { return call(t, "GET", base+"/status", "")["accountStatus"] == "authenticated" })
	if r := call(t, "POST", base+"/pairingCode", `{"phone":"15550001111"}`); r["error"] == nil {
		t.Fatalf("pairing code while authenticated: %v", r)
	}
}

// pairAgainstSandbox waits for the instance's QR code, scans it with the account's sandbox phone
// and waits for the instance to be authenticated.
func pairAgainstSandbox(t testing.TB, base, sb string) {
	t.Helper()
	var qr string
	eventually(t, "a QR code", func() bool {
		st := call(t, "GET", base+"/status?full=true", "")
		uri, _ := st["qrCode"].(string)
		if st["accountStatus"] != "got qr code" || !strings.HasPrefix(uri, "data:image/png;base64,") {
			return false
		}
		qr = decodeQR(t, uri)
		return true
	})
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550001111/scan", map[string]string{"qr": qr}, nil)
	eventually(t, "authentication", func() bool { return call(t, "GET", base+"/status", "")["accountStatus"] == "authenticated" })
}
