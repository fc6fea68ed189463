package webhook

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/fetch"
)

// TestDeliveryLogsRedactURL: a failed delivery's log line and recorded error name the webhook URL
// with its query redacted, never the secret it carries.
func TestDeliveryLogsRedactURL(t *testing.T) {
	s := openStores(t)["sqlite"]
	ctx := context.Background()
	srv := httptest.NewServer(&receiver{t: t, posted: make(chan struct{}, 1)})
	defer srv.Close()
	if err := s.SetWebhookURL(ctx, srv.URL+"/hook?token=abc123secret"); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	d, err := New(Options{Store: s, Client: fetch.Guard{}.Client(5 * time.Second), // refuses the loopback receiver
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	appendMessages(t, s, 0, 1)
	for range 3 {
		if _, err := d.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	next, _ := s.NextBatch(ctx, time.Now().Add(24*time.Hour), false, nil)
	head := next.Due
	if head == nil || head.Attempts != 1 {
		t.Fatalf("head after the refused delivery = %+v", head)
	}
	for what, text := range map[string]string{"log": logs.String(), "lastError": head.LastError} {
		if !strings.Contains(text, "token=REDACTED") {
			t.Errorf("%s does not name the redacted URL: %s", what, text)
		}
		if strings.Contains(text, "abc123secret") {
			t.Errorf("%s holds the webhook URL's secret: %s", what, text)
		}
	}
}
