package cmd

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/instance/webhook"
	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

// startInstance runs the instance server in-process until the returned stop is called.
func startInstance(t testing.TB, o instanceOptions) (string, func()) {
	t.Helper()
	return runWithLog(t, o, io.Discard)
}

// runWithLog runs the instance server with its JSON log written to logs; it returns the base URL
// and a stop.
func runWithLog(t testing.TB, o instanceOptions, logs io.Writer) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	urls, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- runInstance(ctx, o, slog.New(slog.NewJSONHandler(logs, nil)), func(u string) { urls <- u })
	}()
	select {
	case u := <-urls:
		return u, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("runInstance: %v", err)
			}
		}
	case err := <-done:
		cancel()
		t.Fatalf("runInstance: %v", err)
	}
	return "", nil
}

// call sends a JSON request with the test token and decodes the JSON answer.
func call(t testing.TB, method, url, body string) map[string]any {
	t.Helper()
	_, v := callStatus(t, method, url, body)
	return v
}

// callStatus is call that also returns the status code.
func callStatus(t testing.TB, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s %s: %d %q: %v", method, url, resp.StatusCode, raw, err)
	}
	return resp.StatusCode, v
}

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// onEachDatabase runs test on SQLite (empty --database) and on a fresh PostgreSQL database.
func onEachDatabase(t *testing.T, test func(t *testing.T, database string)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			database := ""
			if db == "postgres" {
				database = testpg.Shared(t).NewDatabase(t)
			}
			test(t, database)
		})
	}
}

func TestInstanceServesQueuesAndDeliversWebhooks(t *testing.T) {
	onEachDatabase(t, testServesQueuesAndDeliversWebhooks)
}

func testServesQueuesAndDeliversWebhooks(t *testing.T, database string) {
	var mu sync.Mutex
	var got []chat.WebhookPayload
	key, _ := webhook.ParseSecret("raw-secret")
	received := make(chan struct{}, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
		if r.Header.Get("webhook-signature") != webhook.Sign(key, r.Header.Get("webhook-id"), ts, body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var p chat.WebhookPayload
		_ = json.Unmarshal(body, &p)
		if len(p.Messages) == 0 && len(p.Ack) == 0 {
			return // only status events (pairing)
		}
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
		received <- struct{}{}
	}))
	defer rcv.Close()
	dir := t.TempDir()
	sb := startSandbox(t) // an unpaired account: sends stay queued
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: dir, database: database, token: "tok", webhookURL: rcv.URL, networkURL: sb,
		webhookSecret: "raw-secret", instanceName: "demo", allowPrivate: true, maxFileBytes: 1 << 20,
		mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	if st := call(t, "GET", base+"/status?full=true", ""); st["accountStatus"] == "authenticated" {
		t.Fatalf("status = %v", st)
	}
	sent := call(t, "POST", base+"/sendMessage", `{"phone":"17472822486","body":"survives restarts"}`)
	if sent["sent"] != true || sent["queueNumber"] != float64(1) {
		t.Fatalf("sendMessage = %v", sent)
	}
	stop()

	// After a restart the queue is still there, and journal events reach the webhook, signed.
	base, stop = startInstance(t, o)
	defer stop()
	q := call(t, "GET", base+"/showMessagesQueue", "")
	if q["totalMessages"] != float64(1) {
		t.Fatalf("queue after restart = %v", q)
	}
	// Stand in for the engine: put an incoming message in the journal through a second handle.
	st, err := store.Open(context.Background(), store.Options{DataDir: dir, Database: database})
	if err != nil {
		t.Fatal(err)
	}
	in := chat.Message{ID: "false_17472822486@c.us_3EB0AAAAAAAAAAAAAAAAAA", Type: chat.TypeChat, Body: "hello"}
	if _, _, err := st.AppendMessage(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	// Setting the webhook wakes the dispatcher (the other handle's commit could not).
	if w := call(t, "POST", base+"/webhook", `{"webhookUrl":"`+rcv.URL+`"}`); w["set"] != true {
		t.Fatalf("webhook = %v", w)
	}
	select {
	case <-received:
	case <-time.After(30 * time.Second):
		t.Fatal("webhook not delivered")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].InstanceID != "demo" || len(got[0].Messages) != 1 || got[0].Messages[0].Body != "hello" ||
		got[0].Messages[0].MessageNumber != 1 {
		t.Fatalf("webhooks = %+v", got)
	}
	if m := call(t, "GET", base+"/messages", ""); m["lastMessageNumber"] != float64(1) {
		t.Fatalf("messages = %v", m)
	}
}

func TestInstanceRefusesBadFlags(t *testing.T) {
	base := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), token: "tok", maxFileBytes: 1,
		webhookMaxAge: 24 * time.Hour}
	for name, mod := range map[string]func(*instanceOptions){
		"no token":        func(o *instanceOptions) { o.token = "" },
		"short retries":   func(o *instanceOptions) { o.webhookMaxAge = time.Hour },
		"bad secret":      func(o *instanceOptions) { o.webhookSecret = "whsec_!!" },
		"bad webhook":     func(o *instanceOptions) { o.webhookURL = "ftp://x" },
		"both tokens":     func(o *instanceOptions) { o.tokenFile = "/nonexistent" },
		"bad database":    func(o *instanceOptions) { o.database = "mysql://x" },
		"bad listen addr": func(o *instanceOptions) { o.listen = "nonsense" },
	} {
		o := base
		mod(&o)
		if err := runInstance(context.Background(), o, slog.New(slog.DiscardHandler), func(string) {}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
