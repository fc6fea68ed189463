package cmd

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// permanentWindow is how long the test watches an account that ended for good: an engine that
// retried with its 1 s, 2 s, 4 s, 8 s backoff would connect 4 times in it.
const permanentWindow = 15 * time.Second

// countingProxy forwards everything to the sandbox at target and counts the WhatsApp connections
// (websocket upgrades) made through it.
type countingProxy struct {
	url   string
	conns atomic.Int64
}

func startCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			p.conns.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// statusHooks records the status events of webhook payloads.
type statusHooks struct {
	mu     sync.Mutex
	events []chat.StatusEvent
}

func (h *statusHooks) serve(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p chat.WebhookPayload
		_ = json.Unmarshal(body, &p)
		h.mu.Lock()
		h.events = append(h.events, p.Status...)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (h *statusHooks) saw(substatus string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Substatus == substatus {
			return true
		}
	}
	return false
}

// Permanent ends never loop: once a (600 s) ban, an outdated-client refusal or a logout by the
// phone shows in status (for the logout: with the new device's QR code), the instance makes at
// most 1 WhatsApp connection in the next 15 s (counted by a proxy in front of the sandbox; 0 is
// expected, a retrying engine would make 4), and its status and a webhook status event say why.
func TestPermanentEndsNeverLoop(t *testing.T) { onEachDatabase(t, testPermanentEndsNeverLoop) }

func testPermanentEndsNeverLoop(t *testing.T, database string) {
	sb := startSandbox(t)
	cases := []struct {
		fault, phone, substatus, says string
		bound                         int64
	}{
		{"ban", "15550003331", "banned", "ban", 1},
		{"outdated", "15550003332", "outdated", "outdated", 1},
		// The message of a logged-out account is its new QR code's ("scan the QR code…"); the
		// substatus says why.
		{"logout", "15550003333", "logged_out", "", 1},
	}
	for i, c := range cases {
		database := database
		if i > 0 {
			database = "" // one instance on the database under test, the others on SQLite
		}
		t.Run(c.fault, func(t *testing.T) {
			t.Parallel()
			sandboxCall(t, sb, "POST", "/sandbox/phones", map[string]string{"phone": c.phone, "name": c.fault}, nil)
			proxy := startCountingProxy(t, sb)
			hooks := &statusHooks{}
			o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok",
				networkURL: proxy.url, webhookURL: hooks.serve(t), instanceName: c.fault, allowPrivate: true,
				maxFileBytes: 1 << 20, mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour,
				shutdownTimeout: 5 * time.Second}
			base, stop := startInstance(t, o)
			defer stop()
			pairPhone(t, base, sb, c.phone)
			atFault := proxy.conns.Load()
			sandboxCall(t, sb, "POST", "/sandbox/faults", map[string]any{"phone": c.phone, "kind": c.fault, "seconds": 600}, nil)
			eventually(t, "substatus "+c.substatus, func() bool {
				st := call(t, "GET", base+"/status?full=true", "")
				data, _ := st["statusData"].(map[string]any)
				// A logged-out account pairs a new device: the window starts once it shows a QR code.
				return data != nil && data["substatus"] == c.substatus && (c.fault != "logout" || st["qrCode"] != nil)
			})
			start := proxy.conns.Load()
			<-time.After(permanentWindow) // no signal tells that nothing happens: watch for a while
			n := proxy.conns.Load() - start
			t.Logf("%s: %d WhatsApp connections until status showed it, then %d in %v (bound %d)", c.fault,
				start-atFault, n, permanentWindow, c.bound)
			if n > c.bound {
				t.Errorf("%s: %d connections within %v, want at most %d", c.fault, n, permanentWindow, c.bound)
			}
			st := call(t, "GET", base+"/status?full=true", "")
			data, _ := st["statusData"].(map[string]any)
			if msg, _ := data["msg"].(string); data["substatus"] != c.substatus || !strings.Contains(strings.ToLower(msg), c.says) {
				t.Errorf("status %v, want substatus %s and a message saying %q", st, c.substatus, c.says)
			}
			eventually(t, "a webhook status event", func() bool { return hooks.saw(c.substatus) })
		})
	}
}

// pairPhone pairs the instance at base with the sandbox phone, scanning its QR code.
func pairPhone(t *testing.T, base, sb, phone string) {
	t.Helper()
	var qr string
	eventually(t, "a QR code", func() bool {
		st := call(t, "GET", base+"/status", "")
		uri, _ := st["qrCode"].(string)
		if st["accountStatus"] != "got qr code" || !strings.HasPrefix(uri, "data:image/png;base64,") {
			return false
		}
		qr = decodeQR(t, uri)
		return true
	})
	sandboxCall(t, sb, "POST", "/sandbox/phones/"+phone+"/scan", map[string]string{"qr": qr}, nil)
	eventually(t, "authentication", func() bool { return call(t, "GET", base+"/status", "")["accountStatus"] == "authenticated" })
}
