package media

import (
	"errors"
	"os"
	"path/filepath"
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

// Media are private messages: directories 0700 (also ones made 0755 before) and files 0600,
// committed files as well as files still being received.
func TestModesAndIntake(t *testing.T) {
	root := filepath.Join(t.TempDir(), "media")
	if err := os.MkdirAll(filepath.Join(root, Incoming), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, Incoming), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := Open(root, "token")
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"", Incoming, Outgoing, intakeDir} {
		if info, err := os.Stat(filepath.Join(root, sub)); err != nil || info.Mode().Perm() != 0o700 {
			t.Errorf("directory %q: %v %v, want 0700", sub, info.Mode().Perm(), err)
		}
	}
	in, err := d.NewIntake()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Write([]byte("part one, ")); err != nil {
		t.Fatal(err)
	}
	pending, _ := os.ReadDir(filepath.Join(root, intakeDir))
	if len(pending) != 1 {
		t.Fatalf("%d files in the intake, want 1", len(pending))
	}
	if info, _ := pending[0].Info(); info.Mode().Perm() != 0o600 {
		t.Errorf("intake file mode %o", info.Mode().Perm())
	}
	if _, err := in.Write([]byte("part two")); err != nil {
		t.Fatal(err)
	}
	rel, err := in.Commit(Outgoing, "doc.txt")
	if err != nil || !strings.HasPrefix(rel, "out/") || !strings.HasSuffix(rel, "-doc.txt") {
		t.Fatalf("Commit = %q %v", rel, err)
	}
	in.Discard() // after Commit: nothing happens
	path, _ := d.Path(rel)
	if b, err := os.ReadFile(path); err != nil || string(b) != "part one, part two" {
		t.Fatalf("committed %q %v", b, err)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Errorf("committed file mode %o", info.Mode().Perm())
	}
	if _, err := in.Commit(Outgoing, "again.txt"); err == nil {
		t.Error("second Commit succeeded")
	}
	discarded, _ := d.NewIntake()
	_, _ = discarded.Write([]byte("never sent"))
	discarded.Discard()
	if pending, _ := os.ReadDir(filepath.Join(root, intakeDir)); len(pending) != 0 {
		t.Fatalf("%d files left in the intake", len(pending))
	}
	// What an interrupted intake left behind goes at the next Open; a fresh one stays.
	stale, _ := d.NewIntake()
	fresh, _ := d.NewIntake()
	old := time.Now().Add(-2 * staleIntake)
	if err := os.Chtimes(stale.f.Name(), old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root, "token"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale.f.Name()); !errors.Is(err, os.ErrNotExist) {
		t.Error("stale intake file kept")
	}
	if _, err := os.Stat(fresh.f.Name()); err != nil {
		t.Error("fresh intake file removed")
	}
}
