package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// BenchmarkDeliver measures outbox delivery of chat events to a local receiver (events/op = 1).
func BenchmarkDeliver(b *testing.B) {
	s, err := store.Open(context.Background(), store.Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	_ = s.SetWebhookURL(context.Background(), srv.URL)
	appendMessages(b, s, 0, b.N)
	d, _ := New(Options{Store: s, Client: fetch.Guard{AllowPrivate: true}.Client(5 * time.Second)})
	b.ResetTimer()
	for {
		wait, err := d.Step(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if wait == idle {
			break
		}
	}
}
