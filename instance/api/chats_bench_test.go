package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"

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
// databases: the page comes from the mo_chats_recent index, so the time should not grow with the
// number of chats beyond the COUNT(*) of the total. The figures are in docs/benchmarks.md.
func BenchmarkDialogs(b *testing.B) {
	dbs := map[string]func(b *testing.B) store.Options{
		"sqlite":   func(b *testing.B) store.Options { return store.Options{DataDir: b.TempDir()} },
		"postgres": func(b *testing.B) store.Options { return store.Options{Database: testpg.Shared(b).NewDatabase(b)} },
	}
	for _, db := range []string{"sqlite", "postgres"} {
		for _, n := range []int{100, 10000} {
			b.Run(fmt.Sprintf("%s/chats=%d", db, n), func(b *testing.B) {
				h := newHarness(b, dbs[db](b), nil)
				seedChats(b, h.st, n)
				b.ResetTimer()
				for b.Loop() {
					rec := h.do("GET", "/dialogs?limit=100", "", nil, true)
					if rec.Code != http.StatusOK {
						b.Fatalf("GET /dialogs: %d %s", rec.Code, rec.Body)
					}
				}
			})
		}
	}
}
