package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/fetch"
)

// TestWebhookDestination: POST /webhook refuses (422, with the reason) a URL the webhook guard
// would never deliver to, stores nothing then, and accepts the same URL once its network is
// allowed.
func TestWebhookDestination(t *testing.T) {
	h := sqliteHarness(t, nil)
	for body, reason := range map[string]string{
		`{"webhookUrl":"http://127.0.0.1:9000/hook"}`:         "127.0.0.1 is a loopback",
		`{"webhookUrl":"http://localhost:9000/hook"}`:         "localhost resolves to 127.0.0.1",
		`{"webhookUrl":"http://10.96.0.10/hook"}`:             "10.96.0.10",
		`{"webhookUrl":"http://169.254.169.254/latest"}`:      "169.254.169.254",
		`{"webhookUrl":"http://[::ffff:192.168.0.1]/"}`:       "192.168.0.1",
		`{"webhookUrl":"http://2130706433/"}`:                 "neither an IP address nor a DNS name",
		`{"webhookUrl":"gopher://example.com/"}`:              "absolute http or https",
		`{"webhookUrl":"http://exa mple.com/"}`:               "absolute http or https",
		`{"webhookUrl":"http://[64:ff9b::a00:1]:8080/hook"}`:  "10.0.0.1",
		`{"webhookUrl":"https://[2002:c0a8:101::1]/webhook"}`: "192.168.1.1",
	} {
		rec := h.postJSON("/webhook", body)
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), reason) {
			t.Errorf("%s -> %d %s, want 422 saying %q", body, rec.Code, rec.Body, reason)
		}
	}
	if u := h.st.Settings().WebhookURL; u != "" {
		t.Fatalf("a refused URL was stored: %q", u)
	}

	allow, _ := fetch.ParsePrefixes("10.96.0.0/12,127.0.0.0/8")
	open := sqliteHarness(t, func(o *Options) { o.WebhookGuard = fetch.Guard{Allow: allow} })
	for _, u := range []string{"http://10.96.0.10/hook", "http://localhost:9000/hook", "http://no-such-name.invalid/hook"} {
		if rec := open.postJSON("/webhook", `{"webhookUrl":"`+u+`"}`); rec.Code != http.StatusOK {
			t.Errorf("%s with allowed networks -> %d %s", u, rec.Code, rec.Body)
		}
	}
	if rec := open.postJSON("/webhook", `{"webhookUrl":"http://10.0.0.1/"}`); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("10.0.0.1 outside the allowed networks -> %d", rec.Code)
	}
}

// TestWebhookRefusedReported: GET /webhook says why a URL given at start was refused until a URL
// is set through the API, and why a stored URL can no longer be delivered to.
func TestWebhookRefusedReported(t *testing.T) {
	refused := &RefusedWebhook{}
	refused.Set("--webhook-url refused: webhookUrl would never be delivered to: 127.0.0.1 is a loopback address")
	h := sqliteHarness(t, func(o *Options) { o.WebhookRefused = refused })
	w := decode[map[string]any](t, h.do("GET", "/webhook", "", nil, true))
	if w["set"] != false || !strings.Contains(w["error"].(string), "--webhook-url refused") {
		t.Fatalf("GET /webhook = %v", w)
	}
	if rec := h.postJSON("/webhook", `{"webhookUrl":"https://receiver.invalid/hook"}`); rec.Code != http.StatusOK {
		t.Fatalf("set -> %d %s", rec.Code, rec.Body)
	}
	if w := decode[map[string]any](t, h.do("GET", "/webhook", "", nil, true)); w["set"] != true || w["error"] != nil {
		t.Fatalf("GET /webhook after a set = %v", w)
	}
	// A URL stored earlier (by an older version, or when its network was allowed) that the guard
	// now refuses.
	if err := h.st.SetWebhookURL(t.Context(), "http://127.0.0.1:9/hook"); err != nil {
		t.Fatal(err)
	}
	if w := decode[map[string]any](t, h.do("GET", "/webhook", "", nil, true)); !strings.Contains(w["error"].(string), "127.0.0.1") {
		t.Fatalf("GET /webhook with a refused stored URL = %v", w)
	}
}
