package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// Over the queue's caps a send is refused with a JSON error and nothing is queued; clearing the
// queue removes the files of the cleared sends.
func TestQueueCapsAndClearRemovesFiles(t *testing.T) {
	h := newHarness(t, store.Options{DataDir: t.TempDir(), MaxQueueItems: 2, MaxQueueBytes: 20}, nil)
	data := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")) // 16 bytes
	file := `{"phone":"17472822486","body":"data:application/pdf;base64,` + data + `","filename":"a.pdf"}`
	if rec := h.postJSON("/sendFile", file); rec.Code != http.StatusOK {
		t.Fatalf("first file = %d %s", rec.Code, rec.Body)
	}
	rec := h.postJSON("/sendFile", file)
	if rec.Code != http.StatusInsufficientStorage || !strings.Contains(decode[map[string]string](t, rec)["error"], "cap") {
		t.Fatalf("file over the byte cap = %d %s", rec.Code, rec.Body)
	}
	if rec := h.postJSON("/sendMessage", `{"phone":"17472822486","body":"one"}`); rec.Code != http.StatusOK {
		t.Fatalf("text = %d %s", rec.Code, rec.Body)
	}
	rec = h.postJSON("/sendMessage", `{"phone":"17472822486","body":"two"}`)
	if rec.Code != http.StatusTooManyRequests || decode[map[string]string](t, rec)["error"] == "" {
		t.Fatalf("text over the item cap = %d %s", rec.Code, rec.Body)
	}
	if total, _, _ := h.st.ListQueue(t.Context(), 10); total != 2 {
		t.Fatalf("queued %d, want 2: refused sends must queue nothing", total)
	}
	_, items, _ := h.st.ListQueue(t.Context(), 10)
	p, _ := items[0].Payload()
	f, _ := p.(queue.File)
	path, err := h.media.Path(f.File)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("queued file missing before the clear: %v", err)
	}
	if rec := h.do("POST", "/clearMessagesQueue", "", nil, true); rec.Code != http.StatusOK {
		t.Fatalf("clear = %d %s", rec.Code, rec.Body)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the cleared send's file is still there: %v", err)
	}
}
