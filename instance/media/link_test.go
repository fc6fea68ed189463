package media

import (
	"errors"
	"strings"
	"testing"
)

// FromLink gives back the name Link was made from, relative or absolute, and refuses links with
// another path or a wrong signature.
func TestFromLink(t *testing.T) {
	d, err := Open(t.TempDir(), "token")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := d.Save(Incoming, "pic.png", []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	link := d.Link(rel)
	for _, l := range []string{link, "https://wa.example.org" + link} {
		if got, err := d.FromLink(l); err != nil || got != rel {
			t.Errorf("FromLink(%q) = %q, %v; want %q", l, got, err, rel)
		}
	}
	other, _ := Open(t.TempDir(), "other-token")
	for _, bad := range []string{"", "https://example.org/pic.png", strings.Replace(link, "sig=", "sig=x", 1),
		"/media/../etc/passwd?sig=x", other.Link(rel), "/media/" + rel} {
		if _, err := d.FromLink(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("FromLink(%q) = %v, want ErrBadName", bad, err)
		}
	}
}
