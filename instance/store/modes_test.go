package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The SQLite database and its -wal and -shm files hold the account's keys: nobody but the owner
// may read them, whatever the umask, for a new database and for one created before with 0644.
func TestSQLiteFilesArePrivate(t *testing.T) {
	for name, before := range map[string]os.FileMode{"new": 0, "existing 0644": 0o644} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			db := filepath.Join(dir, DefaultFileName)
			if before != 0 {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(db, nil, before); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(db, before); err != nil {
					t.Fatal(err)
				}
			}
			st, err := Open(context.Background(), Options{DataDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = st.Close() }()
			if err := st.SetWebhookURL(context.Background(), "https://example.com/hook"); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{db, db + "-wal", db + "-shm"} {
				info, err := os.Stat(p)
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(p), err)
				}
				if perm := info.Mode().Perm(); perm&0o077 != 0 {
					t.Errorf("%s has mode %o, want 0600", filepath.Base(p), perm)
				}
			}
			if before == 0 {
				if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
					t.Errorf("data directory mode = %v %v, want 0700", info.Mode().Perm(), err)
				}
			}
		})
	}
}
