package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/store"
)

// specOwns is a SpecSettings owning the given fields.
type specOwns []string

func (s specOwns) SettingsManagedBy() (string, []string) {
	if len(s) == 0 {
		return "", nil
	}
	return "spec.settings of MessengerInstance ns/mi", s
}

func TestSettingsDocument(t *testing.T) {
	h := sqliteHarness(t, func(o *Options) { o.SpecSettings = specOwns{"dailyLimit"} })
	doc := decode[map[string]any](t, h.do("GET", "/settings", "", nil, true))
	for _, f := range []string{"webhookUrl", "ackNotificationsOn", "chatUpdateOn", "ignoreOldMessages", "sendDelay", "sendJitter", "dailyLimit"} {
		if _, ok := doc[f]; !ok {
			t.Fatalf("GET /settings lacks %s: %v", f, doc)
		}
	}
	if owned := doc["managedBySpec"].([]any); len(owned) != 1 || owned[0] != "dailyLimit" {
		t.Fatalf("managedBySpec = %v", doc["managedBySpec"])
	}

	rec := h.postJSON("/settings", `{"sendDelay":1.5,"sendJitter":"0.5","chatUpdateOn":1,"ignoreOldMessages":"true","webhookUrl":"https://hooks.example/x"}`)
	doc = decode[map[string]any](t, rec)
	if doc["sendDelay"] != 1.5 || doc["sendJitter"] != 0.5 || doc["chatUpdateOn"] != true || doc["webhookUrl"] != "https://hooks.example/x" {
		t.Fatalf("POST /settings = %v", doc)
	}
	want := store.Settings{WebhookURL: "https://hooks.example/x", ChatUpdates: true, IgnoreOldMessages: true,
		SendDelay: 1500 * time.Millisecond, SendJitter: 500 * time.Millisecond}
	if st := h.st.Settings(); st != want {
		t.Fatalf("stored %+v, want %+v", st, want)
	}

	for body, code := range map[string]int{
		`{}`:                                http.StatusBadRequest,
		`{"sendDelay":-1}`:                  http.StatusUnprocessableEntity,
		`{"sendDelay":3601}`:                http.StatusUnprocessableEntity,
		`{"sendJitter":"soon"}`:             http.StatusUnprocessableEntity,
		`{"sendDelay":[1]}`:                 http.StatusUnprocessableEntity,
		`{"webhookUrl":"ftp://x.example/"}`: http.StatusUnprocessableEntity,
		`{"dailyLimit":5}`:                  http.StatusConflict,
		`{"sendDelay":2,"dailyLimit":5}`:    http.StatusConflict, // all or nothing
	} {
		rec := h.postJSON("/settings", body)
		if rec.Code != code {
			t.Fatalf("%s -> %d %s, want %d", body, rec.Code, rec.Body, code)
		}
		if code == http.StatusConflict && !strings.Contains(rec.Body.String(), "dailyLimit") {
			t.Fatalf("409 does not name the field: %s", rec.Body)
		}
	}
	if st := h.st.Settings(); st != want {
		t.Fatalf("a refused POST changed the settings: %+v", st)
	}

	hist := decode[map[string][]store.HistoryEntry](t, h.do("GET", "/instanceStatuses", "", nil, true))["statuses"]
	if len(hist) != 1 || hist[0].Kind != store.HistorySettings || hist[0].By != "api" || hist[0].Settings["send_delay_ms"] != "1500" {
		t.Fatalf("instanceStatuses = %+v", hist)
	}
	if strings.Contains(h.do("GET", "/instanceStatuses", "", nil, true).Body.String(), "hooks.example") {
		t.Fatal("the history shows the webhook URL")
	}
}

func TestSettingsDailyLimitMustBeWhole(t *testing.T) {
	h := sqliteHarness(t, nil)
	if rec := h.postJSON("/settings", `{"dailyLimit":2.5}`); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("fractional dailyLimit -> %d", rec.Code)
	}
	if rec := h.postJSON("/settings", `{"dailyLimit":"100"}`); rec.Code != http.StatusOK || h.st.Settings().DailyLimit != 100 {
		t.Fatalf("dailyLimit 100 -> %d %s", rec.Code, rec.Body)
	}
}
