package media

import (
	"fmt"
	"net/url"
	"strings"
)

// FromLink is the reverse of Link: it returns the relative name of a file from its link as the
// journal keeps it (/media/<rel>?sig=<signature>; an absolute URL with that path is accepted too),
// refusing links whose signature does not match.
func (d *Dir) FromLink(link string) (string, error) {
	_, rest, ok := strings.Cut(link, "/media/")
	if !ok {
		return "", fmt.Errorf("%w: %q is not a media link", ErrBadName, link)
	}
	// Link does not escape the name, so it is taken as written, up to the query.
	rel, query, _ := strings.Cut(rest, "?")
	if _, err := d.Path(rel); err != nil {
		return "", err
	}
	q, err := url.ParseQuery(query)
	if err != nil || !d.Verify(rel, q.Get("sig")) {
		return "", fmt.Errorf("%w: link %q has a wrong signature", ErrBadName, link)
	}
	return rel, nil
}
