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
)

// bobsMessages returns the bodies the phone 15550002222 received from the account.
func bobsMessages(t *testing.T, sb string) []string {
	t.Helper()
	var got struct {
		Messages []struct {
			Body   string
			FromMe bool
		}
	}
	sandboxCall(t, sb, "GET", "/sandbox/phones/15550002222/messages", nil, &got)
	var out []string
	for _, m := range got.Messages {
		if !m.FromMe {
			out = append(out, m.Body)
		}
	}
	return out
}

func TestDailyLimitHoldsSendsAgainstSandbox(t *testing.T) {
	onEachDatabase(t, testDailyLimitHoldsSends)
}

func testDailyLimitHoldsSends(t *testing.T, database string) {
	sb := startSandbox(t)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		instanceName: "demo", allowPrivate: true, maxFileBytes: 1 << 20,
		mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()
	pairAgainstSandbox(t, base, sb)
	if r := call(t, "POST", base+"/settings", `{"dailyLimit":2,"sendDelay":0.2}`); r["dailyLimit"] != 2.0 {
		t.Fatalf("POST /settings = %v", r)
	}
	for _, body := range []string{"one", "two", "three"} {
		if r := call(t, "POST", base+"/sendMessage", `{"phone":"15550002222","body":"`+body+`"}`); r["sent"] != true {
			t.Fatalf("send %s: %v", body, r)
		}
	}
	var queue struct {
		TotalMessages int `json:"totalMessages"`
		First100      []chat.QueueItem
		Pacing        struct {
			Held       bool
			SentToday  int
			DailyLimit int
			SendDelay  float64
			NextSendAt int64
			Status     string
		}
	}
	eventually(t, "the daily limit holding the third send", func() bool {
		raw, _ := json.Marshal(call(t, "GET", base+"/showMessagesQueue", ""))
		_ = json.Unmarshal(raw, &queue)
		return queue.Pacing.Held && queue.TotalMessages == 1
	})
	if queue.Pacing.SentToday != 2 || queue.Pacing.SendDelay != 0.2 || !strings.Contains(queue.Pacing.Status, "2 of 2") ||
		time.UnixMilli(queue.Pacing.NextSendAt).UTC().Hour() != 0 {
		t.Fatalf("pacing while held: %+v", queue.Pacing)
	}
	if q := queue.First100; len(q) != 1 || q[0].Body != "three" {
		t.Fatalf("queue while held: %+v", q)
	}
	if got := bobsMessages(t, sb); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Fatalf("Bob got %v while the limit holds", got)
	}
	// Raising the limit lets the held send go; nothing was dropped.
	call(t, "POST", base+"/settings", `{"dailyLimit":10}`)
	eventually(t, "the held send delivered", func() bool { return len(bobsMessages(t, sb)) == 3 })
	if got := bobsMessages(t, sb); got[2] != "three" {
		t.Fatalf("Bob got %v", got)
	}
	var hist struct{ Statuses []map[string]any }
	raw, _ := json.Marshal(call(t, "GET", base+"/instanceStatuses", ""))
	_ = json.Unmarshal(raw, &hist)
	kinds := map[string]bool{}
	for _, h := range hist.Statuses {
		kinds[h["kind"].(string)+" "+str(h["accountStatus"])+str(h["by"])] = true
	}
	for _, want := range []string{"settings api", "status authenticated", "status got qr code"} {
		if !kinds[want] {
			t.Fatalf("instanceStatuses lacks %q: %v", want, kinds)
		}
	}
}

func str(v any) string { s, _ := v.(string); return s }

// Messages that reached the account while the instance was down are journaled but not posted
// when ignoreOldMessages is on; live ones are posted.
func TestIgnoreOldMessagesAgainstSandbox(t *testing.T) { onEachDatabase(t, testIgnoreOldMessages) }

func testIgnoreOldMessages(t *testing.T, database string) {
	var mu sync.Mutex
	posted := map[string]bool{}
	rcv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p chat.WebhookPayload
		_ = json.Unmarshal(body, &p)
		mu.Lock()
		for _, m := range p.Messages {
			posted[m.Body] = true
		}
		mu.Unlock()
	}))
	defer rcv.Close()
	wasPosted := func(body string) bool { mu.Lock(); defer mu.Unlock(); return posted[body] }
	sb := startSandbox(t)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		webhookURL: rcv.URL, instanceName: "demo", allowPrivate: true, maxFileBytes: 1 << 20,
		mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	pairAgainstSandbox(t, base, sb)
	call(t, "POST", base+"/settings", `{"ignoreOldMessages":true}`)
	stop()
	// Sent while the instance is away; a second passes so its time is before the next connection.
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "while away"}, nil)
	time.Sleep(2100 * time.Millisecond) // message times are whole seconds: the next connection must be in a later one
	o.listen = "127.0.0.1:0"
	base, stop = startInstance(t, o)
	defer stop()
	journaled := func(body string) bool {
		raw, _ := json.Marshal(call(t, "GET", base+"/messages?last=true", ""))
		return strings.Contains(string(raw), `"body":"`+body+`"`)
	}
	eventually(t, "the old message journaled", func() bool { return journaled("while away") })
	eventually(t, "connected", func() bool {
		sd, _ := call(t, "GET", base+"/status?full=true", "")["statusData"].(map[string]any)
		return sd["substatus"] == "connected"
	})
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "live"}, nil)
	eventually(t, "the live message posted", func() bool { return wasPosted("live") })
	if wasPosted("while away") {
		t.Fatal("a message from while the instance was away was posted despite ignoreOldMessages")
	}
}
