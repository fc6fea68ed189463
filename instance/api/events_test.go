package api

import (
	"net/http"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/events"
)

// TestEventsRouteNeedsToken: GET /events is behind the token like the rest of the API, and
// reaches the stream once authorized (a bad resume point is the stream's own 400).
func TestEventsRouteNeedsToken(t *testing.T) {
	h := sqliteHarness(t, func(o *Options) {
		s, err := events.New(events.Options{Store: o.Store})
		if err != nil {
			t.Fatal(err)
		}
		o.Events = s
	})
	if rec := h.do("GET", "/events", "", nil, false); rec.Code != http.StatusUnauthorized {
		t.Fatalf("without token: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do("GET", "/events?after=-1", "", nil, true); rec.Code != http.StatusBadRequest {
		t.Fatalf("with token and a bad resume point: %d %s, want the stream's 400", rec.Code, rec.Body)
	}
	if rec := h.do("GET", "/instance123/events?after=x", "", nil, true); rec.Code != http.StatusBadRequest {
		t.Fatalf("under /instance<id>: %d %s, want the stream's 400", rec.Code, rec.Body)
	}
}
