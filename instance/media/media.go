// Package media keeps the files of an instance in its data directory: outgoing files waiting in the
// queue (out/) and downloaded incoming media (in/), served over HTTP under links signed with a key
// derived from the API token, and removed after a retention period.
package media

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Sub-directories of a Dir.
const (
	Incoming = "in"
	Outgoing = "out"
)

// ErrBadName is returned for names that are not a file of the Dir.
var ErrBadName = errors.New("invalid media file name")

// Dir is the media directory.
type Dir struct {
	root string
	key  []byte
}

// Open creates (if needed) the media directory under root; secret keys the link signatures.
func Open(root string, secret string) (*Dir, error) {
	for _, sub := range []string{Incoming, Outgoing} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o700); err != nil {
			return nil, fmt.Errorf("creating media directory: %w", err)
		}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("messenger-operator media links"))
	return &Dir{root: root, key: mac.Sum(nil)}, nil
}

// Save writes data durably (fsync) as a new file in sub (Incoming or Outgoing) and returns its
// relative name "<sub>/<random>-<name>". name must already be sanitised.
func (d *Dir) Save(sub, name string, data []byte) (string, error) {
	if sub != Incoming && sub != Outgoing {
		return "", fmt.Errorf("%w: unknown sub-directory %q", ErrBadName, sub)
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	rel := sub + "/" + hex.EncodeToString(r[:]) + "-" + name
	path, err := d.Path(rel)
	if err != nil {
		return "", err
	}
	if err := writeSynced(path, data); err != nil {
		return "", err
	}
	return rel, nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("creating media file: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("writing media file: %w", err)
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		_ = dir.Sync()
		_ = dir.Close()
	}
	return nil
}

// Path returns the absolute path of a relative name, refusing anything outside in/ and out/.
func (d *Dir) Path(rel string) (string, error) {
	sub, name, ok := strings.Cut(rel, "/")
	if !ok || (sub != Incoming && sub != Outgoing) || name == "" || strings.ContainsAny(name, "/\\\x00") ||
		name == "." || name == ".." {
		return "", fmt.Errorf("%w: %q", ErrBadName, rel)
	}
	return filepath.Join(d.root, sub, name), nil
}

// Remove deletes a file; a missing file is not an error.
func (d *Dir) Remove(rel string) error {
	path, err := d.Path(rel)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing media file: %w", err)
	}
	return nil
}

// Signature returns the link signature of a relative name.
func (d *Dir) Signature(rel string) string {
	mac := hmac.New(sha256.New, d.key)
	mac.Write([]byte(rel))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// Verify checks a link signature in constant time.
func (d *Dir) Verify(rel, sig string) bool {
	return hmac.Equal([]byte(d.Signature(rel)), []byte(sig))
}

// Link returns the server-relative URL of a file: /media/<rel>?sig=<signature>. The API turns it
// into an absolute URL.
func (d *Dir) Link(rel string) string {
	return "/media/" + rel + "?sig=" + d.Signature(rel)
}

// Cleanup removes files older than maxAge (by modification time), incoming ones and sent ones
// alike (a sent file stays as long as the journal links to it), and returns how many.
func (d *Dir) Cleanup(maxAge time.Duration, now time.Time) (int, error) {
	removed := 0
	for _, sub := range []string{Incoming, Outgoing} {
		entries, err := os.ReadDir(filepath.Join(d.root, sub))
		if err != nil {
			return removed, fmt.Errorf("listing media: %w", err)
		}
		for _, e := range entries {
			info, err := e.Info()
			if err != nil || e.IsDir() || now.Sub(info.ModTime()) <= maxAge {
				continue
			}
			if err := os.Remove(filepath.Join(d.root, sub, e.Name())); err == nil {
				removed++
			}
		}
	}
	return removed, nil
}
