package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png" // previews may be PNG
	"regexp"
	"strings"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/fetch"
)

// Link previews of POST /sendLink.
//
// When the request brings no previewBase64 and no title, the page is fetched for its Open Graph
// tags AT ENQUEUE, within previewFetchTimeout, and the result is queued with the text. Fetching at
// delivery instead would answer faster, but it would put a third-party site in the drain: a slow
// page would hold its chat's lane and eat the send's timeout, every retry would fetch again, and a
// preview fetched hours after the call (the account offline meanwhile) would describe another
// page. At enqueue the cost is bounded, paid once, and what is queued is complete. The fetch goes
// through the SSRF guard of the API's fetcher; a page that is refused, slow, broken or without
// tags only means the text goes without a preview: it never fails the send.
const (
	previewFetchTimeout = 5 * time.Second
	// maxPreviewBytes caps a decoded previewBase64.
	maxPreviewBytes = 1 << 20
	// maxPreviewPixels caps the decoded size of a preview image (a small file can declare a huge one).
	maxPreviewPixels = 16 << 20
	// thumbSide is the longer side of the JPEG thumbnail sent with a link, in pixels.
	thumbSide = 256
	// maxTitleLength and maxDescriptionLength cap a preview's texts, in characters.
	maxTitleLength       = 1024
	maxDescriptionLength = 4096
)

// linkURL finds the first http(s) URL in a text.
var linkURL = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"'` + "`" + `]+`)

// firstLink returns the first http(s) URL of text, without trailing punctuation, or "".
func firstLink(text string) string {
	for _, m := range linkURL.FindAllString(text, -1) {
		m = strings.TrimRight(m, ".,;:!?)]}'\"")
		if rest, ok := strings.CutPrefix(strings.ToLower(m), "http://"); ok && rest != "" {
			return m
		}
		if rest, ok := strings.CutPrefix(strings.ToLower(m), "https://"); ok && rest != "" {
			return m
		}
	}
	return ""
}

// decodePreview decodes a previewBase64 (plain or standard base64, or a data URI) into a JPEG
// thumbnail.
func decodePreview(raw string) ([]byte, error) {
	raw = strings.TrimSpace(raw)
	if fetch.IsDataURI(raw) {
		_, data, ok := strings.Cut(raw, ",")
		if !ok {
			return nil, errors.New("not a data URI")
		}
		raw = data
	}
	if base64.StdEncoding.DecodedLen(len(raw)) > maxPreviewBytes+3 {
		return nil, fmt.Errorf("larger than %d bytes", maxPreviewBytes)
	}
	raw = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, raw)
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		if data, err = base64.RawStdEncoding.DecodeString(raw); err != nil {
			return nil, fmt.Errorf("bad base64: %w", err)
		}
	}
	return thumbnail(data)
}

// thumbnail decodes a JPEG or PNG image and returns it as a JPEG of at most thumbSide pixels on
// its longer side.
func thumbnail(data []byte) ([]byte, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "jpeg" && format != "png") {
		return nil, errors.New("not a JPEG or PNG image")
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxPreviewPixels {
		return nil, fmt.Errorf("%dx%d pixels: at most %d pixels", cfg.Width, cfg.Height, maxPreviewPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decoding the image: %w", err)
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, scaleDown(img, thumbSide), &jpeg.Options{Quality: 80}); err != nil {
		return nil, fmt.Errorf("encoding the thumbnail: %w", err)
	}
	return out.Bytes(), nil
}

// scaleDown shrinks img (nearest neighbour) so its longer side is at most side pixels.
func scaleDown(img image.Image, side int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= side && h <= side {
		return img
	}
	dw, dh := side, max(1, h*side/w)
	if h > w {
		dw, dh = max(1, w*side/h), side
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range dh {
		for x := range dw {
			dst.Set(x, y, img.At(b.Min.X+x*w/dw, b.Min.Y+y*h/dh))
		}
	}
	return dst
}

// fetchPreview fetches the preview of pageURL within previewFetchTimeout. Any failure is logged and
// gives an empty preview: the link then goes without one.
func (s *Server) fetchPreview(ctx context.Context, pageURL string) (title, description string, thumb []byte) {
	ctx, cancel := context.WithTimeout(ctx, previewFetchTimeout)
	defer cancel()
	p, err := s.opts.Fetcher.Preview(ctx, pageURL)
	if err != nil {
		s.log.Info("link preview unavailable; sending the link without it", "err", err)
		return "", "", nil
	}
	if len(p.Image) > 0 {
		if thumb, err = thumbnail(p.Image); err != nil {
			s.log.Info("link preview image unusable; sending the preview without it", "err", err)
		}
	}
	return p.Title, p.Description, thumb
}
