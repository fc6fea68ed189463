package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

// seedChats puts n person chats in the chat list through the store API, in batches.
func seedChats(b *testing.B, st *store.Store, n int) {
	b.Helper()
	const batch = 1000
	for from := 0; from < n; from += batch {
		var ups []store.ChatUpdate
		for i := from; i < min(from+batch, n); i++ {
			unread := i % 7
			ups = append(ups, store.ChatUpdate{ID: fmt.Sprintf("1555%07d@c.us", i), Name: fmt.Sprint("Contact ", i),
				LastTime: 1_700_000_000 + int64(i*37%n), Unread: &unread})
		}
		if err := st.PutChats(context.Background(), ups); err != nil {
			b.Fatal(err)
		}
	}
}

// GET /dialogs (the default page of 100, newest first) with 100 and with 10,000 chats, on both
// databases. The page comes from the mo_chats_recent index and the total from a counter, so the
// time should not grow with the number of chats. Each iteration asks both lists, one after the
// other, so that the load of a shared machine weighs on both alike; the medians and their ratio
// are reported (figures in docs/benchmarks.md).
func BenchmarkDialogs(b *testing.B) {
	dbs := map[string]func(b *testing.B) store.Options{
		"sqlite":   func(b *testing.B) store.Options { return store.Options{DataDir: b.TempDir()} },
		"postgres": func(b *testing.B) store.Options { return store.Options{Database: testpg.Shared(b).NewDatabase(b)} },
	}
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			small, large := newHarness(b, dbs[db](b), nil), newHarness(b, dbs[db](b), nil)
			seedChats(b, small.st, 100)
			seedChats(b, large.st, 10000)
			var ts, tl []time.Duration
			b.ResetTimer()
			for b.Loop() {
				ts = append(ts, timeDialogs(b, small))
				tl = append(tl, timeDialogs(b, large))
			}
			ms, ml := median(ts), median(tl)
			b.ReportMetric(float64(ms.Microseconds())/1000, "ms/100-chats")
			b.ReportMetric(float64(ml.Microseconds())/1000, "ms/10000-chats")
			b.ReportMetric(float64(ml)/float64(ms), "ratio")
		})
	}
}

func timeDialogs(b *testing.B, h *harness) time.Duration {
	start := time.Now()
	rec := h.do("GET", "/dialogs?limit=100", "", nil, true)
	d := time.Since(start)
	if rec.Code != http.StatusOK {
		b.Fatalf("GET /dialogs: %d %s", rec.Code, rec.Body)
	}
	return d
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
