package cmd

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/engine"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// testLiveness are liveness thresholds short enough for tests: a silent server is found within
// about 1.5 s (0.3 s quiet, checked every 0.1 s, 1 s for the ping's answer). The first reconnect
// waits 1–2 s, so the stale state lasts long enough to be seen by polling.
var testLiveness = engine.Liveness{Quiet: 300 * time.Millisecond, Answer: time.Second, Check: 100 * time.Millisecond,
	MinBackoff: 2 * time.Second, MaxBackoff: 4 * time.Second}

// livenessInstance starts a sandbox and an instance with the test thresholds, paired; the
// instance's log goes to logs.
func livenessInstance(t *testing.T, database string, logs *lockedBuffer) (base, sb string) {
	t.Helper()
	sb = startSandbox(t)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		allowPrivate: true, maxFileBytes: 1 << 20, mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour,
		shutdownTimeout: 5 * time.Second, liveness: testLiveness}
	base, stop := runWithLog(t, o, logs)
	t.Cleanup(stop)
	pairAgainstSandbox(t, base, sb)
	return base, sb
}

func substatus(t testing.TB, base string) string {
	sd, _ := call(t, "GET", base+"/status?full=true", "")["statusData"].(map[string]any)
	s, _ := sd["substatus"].(string)
	return s
}

func readyz(t testing.TB, base string) int {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// phoneCount is how many messages with body the phone has.
func phoneCount(t testing.TB, sb, phone, body string) int {
	var msgs struct{ Messages []sandbox.PhoneMessage }
	sandboxCall(t, sb, "GET", "/sandbox/phones/"+phone+"/messages", nil, &msgs)
	n := 0
	for _, m := range msgs.Messages {
		if m.Body == body {
			n++
		}
	}
	return n
}

// journalCount is how many messages with body the instance's journal holds.
func journalCount(t testing.TB, base, body string) int {
	msgs, _ := call(t, "GET", base+"/messages?lastMessageNumber=0", "")["messages"].([]any)
	n := 0
	for _, raw := range msgs {
		if m, _ := raw.(map[string]any); m["body"] == body {
			n++
		}
	}
	return n
}

func send(t *testing.T, base, body string) {
	t.Helper()
	if r := call(t, "POST", base+"/sendMessage", `{"phone":"15550002222","body":"`+body+`"}`); r["sent"] != true {
		t.Fatalf("sendMessage = %v", r)
	}
}

// A server that stops answering is found out: substatus stale, /readyz 503; the instance drops
// the connection and reconnects by itself, and a message sent meanwhile is delivered once.
func TestLivenessStale(t *testing.T) { onEachDatabase(t, testLivenessStale) }

func testLivenessStale(t *testing.T, database string) {
	base, sb := livenessInstance(t, database, &lockedBuffer{})
	send(t, base, "before")
	eventually(t, "the first message on Bob's phone", func() bool { return phoneCount(t, sb, "15550002222", "before") == 1 })
	if code := readyz(t, base); code != http.StatusOK {
		t.Fatalf("/readyz = %d while connected", code)
	}

	sandboxCall(t, sb, "POST", "/sandbox/faults", map[string]string{"phone": "15550001111", "kind": "stale"}, nil)
	send(t, base, "meanwhile") // sent on the silent connection: no ack comes
	eventually(t, "substatus stale and /readyz 503", func() bool {
		return substatus(t, base) == "stale" && readyz(t, base) == http.StatusServiceUnavailable
	})
	eventually(t, "connected again and ready", func() bool {
		return substatus(t, base) == "connected" && readyz(t, base) == http.StatusOK
	})
	send(t, base, "after")
	eventually(t, "the later message on Bob's phone", func() bool { return phoneCount(t, sb, "15550002222", "after") == 1 })
	if n := phoneCount(t, sb, "15550002222", "meanwhile"); n != 1 {
		t.Fatalf("the message sent while stale reached the phone %d times", n)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	for _, want := range []string{"messenger_reconnects_total 1", "messenger_last_server_contact_seconds 1"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// A message the instance cannot decrypt is asked for again (retry receipt) and journaled once.
func TestLivenessUndecryptable(t *testing.T) { onEachDatabase(t, testLivenessUndecryptable) }

func testLivenessUndecryptable(t *testing.T, database string) {
	var logs lockedBuffer
	base, sb := livenessInstance(t, database, &logs)
	bob := func(body string) {
		sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": body}, nil)
	}
	bob("hello") // sets up the Signal session
	eventually(t, "the first message journaled", func() bool { return journalCount(t, base, "hello") == 1 })

	sandboxCall(t, sb, "POST", "/sandbox/faults", map[string]string{"phone": "15550001111", "kind": "undecryptable"}, nil)
	bob("spoiled once")
	eventually(t, "the spoiled message journaled after its retry", func() bool { return journalCount(t, base, "spoiled once") >= 1 })
	bob("next")
	eventually(t, "the next message journaled", func() bool { return journalCount(t, base, "next") == 1 })
	if n := journalCount(t, base, "spoiled once"); n != 1 {
		t.Fatalf("the retried message was journaled %d times", n)
	}
	if !strings.Contains(logs.String(), "Error decrypting message") {
		t.Fatal("the instance never failed to decrypt: the fault did not spoil the message")
	}
}
