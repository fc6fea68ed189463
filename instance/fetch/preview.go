package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Caps of a link preview fetch.
const (
	// MaxPreviewPage is how much of a page is read looking for its meta tags (they are in the head).
	MaxPreviewPage = 512 << 10
	// MaxPreviewImage caps the preview image downloaded.
	MaxPreviewImage = 1 << 20
	// maxPreviewText caps the title and description taken from a page.
	maxPreviewText = 1024
)

// Preview is what a web page says of itself for link previews: Open Graph og:title,
// og:description and og:image, else its <title> and meta description.
type Preview struct {
	Title       string
	Description string
	// Image is the downloaded og:image (at most MaxPreviewImage bytes); nil when the page names
	// none or it could not be downloaded.
	Image []byte
}

// Preview fetches the page at pageURL and its preview image through the fetcher's (guarded)
// client; every address dialed is checked, redirects included. The caller bounds the time with
// ctx. A page that is not HTML, or answers with an error, is an error; an image that cannot be
// had only leaves Image nil.
func (f *Fetcher) Preview(ctx context.Context, pageURL string) (Preview, error) {
	body, final, err := f.getCapped(ctx, pageURL, MaxPreviewPage, "text/html")
	if err != nil {
		return Preview{}, err
	}
	p, image := parsePreview(body)
	if image == "" {
		return p, nil
	}
	ref, err := final.Parse(image)
	if err != nil || (ref.Scheme != "http" && ref.Scheme != "https") {
		return p, nil
	}
	if data, _, err := f.getCapped(ctx, ref.String(), MaxPreviewImage, "image/"); err == nil {
		p.Image = data
	}
	return p, nil
}

// getCapped GETs rawURL and reads at most limit bytes of a body whose declared type starts with
// wantType (an empty or generic type is let through). It returns the body and the final URL.
func (f *Fetcher) getCapped(ctx context.Context, rawURL string, limit int64, wantType string) ([]byte, *url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, nil, fmt.Errorf("%w: want an absolute http or https URL without credentials", ErrBadURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	accept := wantType
	if strings.HasSuffix(accept, "/") {
		accept += "*"
	}
	req.Header.Set("Accept", accept)
	resp, err := f.Client.Do(req)
	if err != nil {
		if errors.Is(err, ErrBlocked) {
			return nil, nil, fmt.Errorf("fetching %s: %w", u.Redacted(), ErrBlocked)
		}
		return nil, nil, fmt.Errorf("%w from %s: %v", ErrUpstream, u.Host, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, nil, fmt.Errorf("%w from %s: HTTP %d", ErrUpstream, u.Host, resp.StatusCode)
	}
	ct := strings.ToLower(resp.Header.Get("Content-Type"))
	if ct != "" && !strings.HasPrefix(ct, wantType) && !strings.HasPrefix(ct, "application/octet-stream") {
		return nil, nil, fmt.Errorf("%w: %s is %s, not %s", ErrUnsupportedType, u.Redacted(), ct, wantType)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, nil, fmt.Errorf("%w from %s: %v", ErrUpstream, u.Host, err)
	}
	return data, resp.Request.URL, nil
}

// parsePreview reads the title, description and image URL of an HTML document's head.
func parsePreview(doc []byte) (Preview, string) {
	var p Preview
	var title, desc, image string
	z := html.NewTokenizer(strings.NewReader(string(doc)))
	inTitle := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return finishPreview(p, title, desc), image
		case html.TextToken:
			if inTitle && title == "" {
				title = strings.TrimSpace(string(z.Text()))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Title:
				inTitle = false
			case atom.Head:
				return finishPreview(p, title, desc), image
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch atom.Lookup(name) {
			case atom.Title:
				inTitle = true
			case atom.Body:
				return finishPreview(p, title, desc), image
			case atom.Meta:
				if hasAttr {
					key, content := metaAttrs(z)
					switch key {
					case "og:title":
						p.Title = content
					case "og:description":
						p.Description = content
					case "description":
						desc = content
					case "og:image", "og:image:url", "og:image:secure_url":
						if image == "" || key == "og:image:secure_url" {
							image = content
						}
					}
				}
			}
		}
	}
}

// metaAttrs returns the property (or name), lower case, and the content of a meta tag.
func metaAttrs(z *html.Tokenizer) (string, string) {
	var key, content string
	for {
		k, v, more := z.TagAttr()
		switch string(k) {
		case "property", "name":
			if key == "" {
				key = strings.ToLower(strings.TrimSpace(string(v)))
			}
		case "content":
			content = strings.TrimSpace(string(v))
		}
		if !more {
			return key, content
		}
	}
}

// finishPreview falls back to the <title> and meta description and caps the texts.
func finishPreview(p Preview, title, desc string) Preview {
	if p.Title == "" {
		p.Title = title
	}
	if p.Description == "" {
		p.Description = desc
	}
	p.Title, p.Description = capRunes(p.Title, maxPreviewText), capRunes(p.Description, maxPreviewText)
	return p
}

func capRunes(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
