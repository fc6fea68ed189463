package media

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestSaveLinkVerifyCleanup(t *testing.T) {
	d, err := Open(t.TempDir(), "token")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := d.Save(Incoming, "pic.png", []byte("data"))
	if err != nil || !strings.HasPrefix(rel, "in/") || !strings.HasSuffix(rel, "-pic.png") {
		t.Fatalf("Save = %q %v", rel, err)
	}
	path, _ := d.Path(rel)
	if b, err := os.ReadFile(path); err != nil || string(b) != "data" {
		t.Fatalf("stored %q %v", b, err)
	}
	link := d.Link(rel)
	sig := link[strings.Index(link, "sig=")+4:]
	if !d.Verify(rel, sig) || d.Verify(rel, sig[1:]) || d.Verify("in/other", sig) {
		t.Fatal("signature check wrong")
	}
	other, _ := Open(t.TempDir(), "other-token")
	if other.Verify(rel, sig) {
		t.Fatal("signature valid under another token")
	}
	for _, bad := range []string{"../x", "in/../../etc/passwd", "in/", "tmp/x", "in/a/b", "x"} {
		if _, err := d.Path(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("Path(%q) = %v", bad, err)
		}
	}
	if _, err := d.Save("etc", "x", nil); !errors.Is(err, ErrBadName) {
		t.Errorf("Save to unknown sub: %v", err)
	}
	old := time.Now().Add(-31 * 24 * time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	keep, _ := d.Save(Incoming, "new.png", []byte("x"))
	sent, _ := d.Save(Outgoing, "sent.pdf", []byte("y"))
	sentPath, _ := d.Path(sent)
	if err := os.Chtimes(sentPath, old, old); err != nil {
		t.Fatal(err)
	}
	n, err := d.Cleanup(30*24*time.Hour, time.Now())
	if err != nil || n != 2 {
		t.Fatalf("Cleanup = %d %v", n, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("old file kept")
	}
	if _, err := os.Stat(sentPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("old sent file kept")
	}
	if p, _ := d.Path(keep); p == "" {
		t.Fatal("new file path")
	} else if _, err := os.Stat(p); err != nil {
		t.Fatal("new file removed")
	}
	if err := d.Remove(keep); err != nil || d.Remove(keep) != nil {
		t.Fatal("Remove not idempotent")
	}
}
