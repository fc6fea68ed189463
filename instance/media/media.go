// Package media keeps the files of an instance in its data directory: outgoing files waiting in the
// queue (out/) and downloaded incoming media (in/), served over HTTP under links signed with a key
// derived from the API token, and removed after a retention period. It also says what a file is:
// its sanitised name, its sniffed media type and the WhatsApp media kind that type is shown as.
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

// intakeDir holds files still being received (Intake); it is never served.
const intakeDir = "tmp"

// staleIntake is how old a file in intakeDir must be for Open to remove it as a leftover.
const staleIntake = time.Hour

// Open creates (if needed) the media directory under root; secret keys the link signatures.
// Directories are 0700 and files 0600: media are private messages.
func Open(root string, secret string) (*Dir, error) {
	for _, sub := range []string{"", Incoming, Outgoing, intakeDir} {
		dir := filepath.Join(root, sub)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating media directory: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("restricting media directory: %w", err)
		}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("messenger-operator media links"))
	d := &Dir{root: root, key: mac.Sum(nil)}
	d.removeStaleIntakes(time.Now())
	return d, nil
}

// removeStaleIntakes removes what an interrupted intake left behind.
func (d *Dir) removeStaleIntakes(now time.Time) {
	entries, _ := os.ReadDir(filepath.Join(d.root, intakeDir))
	for _, e := range entries {
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleIntake {
			_ = os.Remove(filepath.Join(d.root, intakeDir, e.Name()))
		}
	}
}

// Save writes data durably (fsync) as a new file in sub (Incoming or Outgoing) and returns its
// relative name "<sub>/<random>-<name>". name must already be sanitised.
func (d *Dir) Save(sub, name string, data []byte) (string, error) {
	in, err := d.NewIntake()
	if err != nil {
		return "", err
	}
	defer in.Discard()
	if _, err := in.Write(data); err != nil {
		return "", err
	}
	return in.Commit(sub, name)
}

// Intake is a file being received: a temporary file (mode 0600) in the media directory that
// Commit renames into place, so a file appears whole or not at all and is never held in memory.
// Discard removes it unless it was committed.
type Intake struct {
	d      *Dir
	f      *os.File
	closed bool
}

// NewIntake starts a new file.
func (d *Dir) NewIntake() (*Intake, error) {
	f, err := os.CreateTemp(filepath.Join(d.root, intakeDir), "intake-*")
	if err != nil {
		return nil, fmt.Errorf("creating media file: %w", err)
	}
	return &Intake{d: d, f: f}, nil
}

// Write appends to the file.
func (in *Intake) Write(p []byte) (int, error) {
	n, err := in.f.Write(p)
	if err != nil {
		return n, fmt.Errorf("writing media file: %w", err)
	}
	return n, nil
}

// Commit makes the file durable (fsync) as a new file in sub (Incoming or Outgoing) and returns
// its relative name "<sub>/<random>-<name>". name must already be sanitised.
func (in *Intake) Commit(sub, name string) (string, error) {
	if in.closed {
		return "", errors.New("media: intake already committed or discarded")
	}
	if sub != Incoming && sub != Outgoing {
		return "", fmt.Errorf("%w: unknown sub-directory %q", ErrBadName, sub)
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	rel := sub + "/" + hex.EncodeToString(r[:]) + "-" + name
	path, err := in.d.Path(rel)
	if err != nil {
		return "", err
	}
	serr := in.f.Sync()
	cerr := in.f.Close()
	in.closed = true
	if err := errors.Join(serr, cerr); err != nil {
		_ = os.Remove(in.f.Name())
		return "", fmt.Errorf("writing media file: %w", err)
	}
	if err := os.Rename(in.f.Name(), path); err != nil {
		_ = os.Remove(in.f.Name())
		return "", fmt.Errorf("storing media file: %w", err)
	}
	syncDir(filepath.Dir(path))
	return rel, nil
}

// Discard removes the file unless it was committed; it may be called more than once.
func (in *Intake) Discard() {
	if in.closed {
		return
	}
	in.closed = true
	_ = in.f.Close()
	_ = os.Remove(in.f.Name())
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		_ = f.Close()
	}
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
	d.removeStaleIntakes(now)
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

// IntakeBytes returns how many bytes the files being received hold on disk.
func (d *Dir) IntakeBytes() int64 {
	var n int64
	entries, _ := os.ReadDir(filepath.Join(d.root, intakeDir))
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			n += info.Size()
		}
	}
	return n
}
