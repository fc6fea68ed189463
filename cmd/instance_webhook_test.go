package cmd

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestWebhookAllowNetworks: without --webhook-allow-networks a loopback --webhook-url is refused
// (logged with its query redacted, reported by GET /webhook, not stored) and POST /webhook answers
// 422; with the loopback network allowed the same URL is stored and delivered to, while sendFile
// URLs on that network stay refused.
func TestWebhookAllowNetworks(t *testing.T) {
	received := make(chan struct{}, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received <- struct{}{}
	}))
	defer rcv.Close()
	hook := rcv.URL + "/hook?token=receiver-secret"
	dir := t.TempDir()
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: dir, token: "tok", webhookURL: hook, networkURL: startSandbox(t),
		instanceName: "demo", maxFileBytes: 1 << 20, mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour,
		shutdownTimeout: 5 * time.Second}

	var logs lockedBuffer
	base, stop := runWithLog(t, o, &logs)
	w := call(t, "GET", base+"/webhook", "")
	if w["set"] != false || !strings.Contains(w["error"].(string), "127.0.0.1 is a loopback") {
		t.Errorf("GET /webhook after a refused --webhook-url = %v", w)
	}
	if w := call(t, "POST", base+"/webhook", `{"webhookUrl":"`+hook+`"}`); !strings.Contains(w["error"].(string), "never be delivered") {
		t.Errorf("POST /webhook of a loopback URL = %v", w)
	}
	stop()
	if !strings.Contains(logs.String(), "--webhook-url refused") || !strings.Contains(logs.String(), "token=REDACTED") {
		t.Errorf("the refusal is not logged with the redacted URL:\n%s", logs.String())
	}

	o.webhookAllowNetworks = "127.0.0.0/8, ::1/128"
	logs = lockedBuffer{}
	base, stop = runWithLog(t, o, &logs)
	defer stop()
	if w := call(t, "GET", base+"/webhook", ""); w["set"] != true || w["error"] != nil {
		t.Fatalf("GET /webhook with the loopback network allowed = %v", w)
	}
	st, err := store.Open(context.Background(), store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	in := chat.Message{ID: "false_17472822486@c.us_3EB0BBBBBBBBBBBBBBBBBB", Type: chat.TypeChat, Body: "hello"}
	if _, _, err := st.AppendMessage(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if w := call(t, "POST", base+"/webhook", `{"webhookUrl":"`+hook+`"}`); w["set"] != true { // wakes the dispatcher
		t.Fatalf("POST /webhook = %v", w)
	}
	select {
	case <-received:
	case <-time.After(30 * time.Second):
		t.Fatal("webhook not delivered to the allowed network")
	}
	file := call(t, "POST", base+"/sendFile", `{"phone":"17472822486","body":"`+rcv.URL+`/pic.png","filename":"pic.png"}`)
	if e, _ := file["error"].(string); !strings.Contains(e, "not allowed") {
		t.Errorf("sendFile from the webhook-allowed network = %v", file)
	}
	if strings.Contains(logs.String(), "receiver-secret") {
		t.Errorf("the webhook URL's secret is in the log:\n%s", logs.String())
	}
}

func TestWebhookAllowNetworksBadFlag(t *testing.T) {
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), token: "tok", maxFileBytes: 1,
		webhookMaxAge: 24 * time.Hour, webhookAllowNetworks: "10.0.0.0/8,nonsense"}
	err := runInstance(context.Background(), o, slog.New(slog.DiscardHandler), func(string) {})
	if err == nil || !strings.Contains(err.Error(), "--webhook-allow-networks") {
		t.Fatalf("runInstance with a bad CIDR = %v", err)
	}
}
