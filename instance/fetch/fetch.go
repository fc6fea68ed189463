package fetch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/media"
)

// Errors callers map to HTTP status codes.
var (
	// ErrTooLarge: the file is over the size cap (413).
	ErrTooLarge = errors.New("file too large")
	// ErrBadURL: not an absolute http(s) URL (400).
	ErrBadURL = errors.New("invalid file URL")
	// ErrBadData: a malformed data URI or bad base64 (400).
	ErrBadData = errors.New("invalid data URI")
	// ErrUnsupportedType: a media type that cannot be parsed (415).
	ErrUnsupportedType = errors.New("unsupported media type")
	// ErrUpstream: the remote server failed or answered with an error (422).
	ErrUpstream = errors.New("could not download the file")
	// ErrStore: the file could not be written where it was to be kept (503).
	ErrStore = errors.New("could not store the file")
)

// Fetcher downloads files with a size cap through a guarded client.
type Fetcher struct {
	// Client should come from Guard.Client.
	Client *http.Client
	// MaxBytes caps a file's size.
	MaxBytes int64
}

// NewFetcher returns a fetcher using g with the given size cap and a 60 s overall timeout.
func NewFetcher(g Guard, maxBytes int64) *Fetcher {
	return &Fetcher{Client: g.Client(60 * time.Second), MaxBytes: maxBytes}
}

// Get downloads rawURL into w, streaming: at most MaxBytes are read and only the first 512 bytes
// (for content sniffing) are kept in memory. name, when empty, comes from the URL path. An error
// writing to w wraps ErrStore.
func (f *Fetcher) Get(ctx context.Context, rawURL, name string, w io.Writer) (*media.File, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: want an absolute http or https URL", ErrBadURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: credentials in URLs are not accepted", ErrBadURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		if errors.Is(err, ErrBlocked) {
			return nil, fmt.Errorf("fetching %s: %w", u.Redacted(), ErrBlocked)
		}
		return nil, fmt.Errorf("%w from %s: %v", ErrUpstream, u.Host, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%w from %s: HTTP %d", ErrUpstream, u.Host, resp.StatusCode)
	}
	if resp.ContentLength > f.MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, resp.ContentLength, f.MaxBytes)
	}
	head, size, err := copyCapped(w, resp.Body, f.MaxBytes)
	if err != nil {
		if errors.Is(err, errRead) {
			return nil, fmt.Errorf("%w from %s: %v", ErrUpstream, u.Host, err)
		}
		return nil, err
	}
	if name == "" {
		name = path.Base(resp.Request.URL.Path)
	}
	declared, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return media.Identify(name, declared, head, size), nil
}

// sniffLen is how many leading bytes content sniffing looks at (http.DetectContentType).
const sniffLen = 512

// errRead marks an error reading the source in copyCapped (not writing the destination).
var errRead = errors.New("read error")

// copyCapped copies r to w, failing with ErrTooLarge past maxBytes, and returns the first sniffLen
// bytes and the size. Read errors wrap errRead, write errors ErrStore.
func copyCapped(w io.Writer, r io.Reader, maxBytes int64) ([]byte, int64, error) {
	var head []byte
	var n int64
	buf := make([]byte, 32<<10)
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			if n+int64(k) > maxBytes {
				return nil, n, fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, maxBytes)
			}
			if len(head) < sniffLen {
				head = append(head, buf[:min(k, sniffLen-len(head))]...)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return nil, n, fmt.Errorf("%w: %w", ErrStore, err)
			}
			n += int64(k)
		}
		if rerr == io.EOF {
			return head, n, nil
		}
		if rerr != nil {
			var corrupt base64.CorruptInputError
			if errors.As(rerr, &corrupt) {
				return nil, n, fmt.Errorf("%w: bad base64: %v", ErrBadData, rerr)
			}
			return nil, n, fmt.Errorf("%w: %w", errRead, rerr)
		}
	}
}

// IsDataURI reports whether s looks like a data URI.
func IsDataURI(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "data:") }

// ParseDataURI decodes data:<mime>[;params];base64,<data> (or URL-encoded data) into w with a size
// cap; base64 is decoded as a stream, so the decoded file is never held in memory.
func ParseDataURI(s, name string, maxBytes int64, w io.Writer) (*media.File, error) {
	s = strings.TrimSpace(s)
	header, payload, ok := strings.Cut(strings.TrimPrefix(s, "data:"), ",")
	if !strings.HasPrefix(s, "data:") || !ok {
		return nil, fmt.Errorf("%w: want data:<type>;base64,<data>", ErrBadData)
	}
	params := strings.Split(header, ";")
	isBase64 := params[len(params)-1] == "base64"
	if isBase64 {
		params = params[:len(params)-1]
	}
	declared := ""
	if params[0] != "" {
		mt, _, err := mime.ParseMediaType(strings.Join(params, ";"))
		if err != nil || !strings.Contains(mt, "/") {
			return nil, fmt.Errorf("%w %q in data URI", ErrUnsupportedType, params[0])
		}
		declared = mt
	}
	// base64 grows data by 4/3: refuse early what cannot fit.
	if int64(len(payload)) > maxBytes/3*4+8 {
		return nil, fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, maxBytes)
	}
	src, err := payloadReader(payload, isBase64)
	if err != nil {
		return nil, err
	}
	head, size, err := copyCapped(w, src, maxBytes)
	if err != nil {
		if errors.Is(err, errRead) {
			return nil, fmt.Errorf("%w: %v", ErrBadData, err)
		}
		return nil, err
	}
	if size == 0 {
		return nil, fmt.Errorf("%w: the data URI holds no data", ErrBadData)
	}
	return media.Identify(name, declared, head, size), nil
}

// payloadReader returns a reader of the decoded payload of a data URI.
func payloadReader(payload string, isBase64 bool) (io.Reader, error) {
	if !isBase64 {
		text, err := url.PathUnescape(payload)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadData, err)
		}
		return strings.NewReader(text), nil
	}
	chars := 0
	for i := 0; i < len(payload); i++ {
		if !isBase64Space(payload[i]) {
			chars++
		}
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(payload, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(strings.TrimRightFunc(payload, func(r rune) bool { return r < 128 && isBase64Space(byte(r)) }), "=") &&
		chars%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return base64.NewDecoder(enc, &spaceSkipper{s: payload}), nil
}

func isBase64Space(b byte) bool { return b == '\n' || b == '\r' || b == ' ' || b == '\t' }

// spaceSkipper reads s without the white space that line-wrapped base64 carries.
type spaceSkipper struct {
	s string
	i int
}

func (r *spaceSkipper) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.i < len(r.s) {
		if b := r.s[r.i]; !isBase64Space(b) {
			p[n] = b
			n++
		}
		r.i++
	}
	if n == 0 && r.i >= len(r.s) {
		return 0, io.EOF
	}
	return n, nil
}

// FromReader copies an uploaded file from r into w with a size cap; declared is its Content-Type.
func FromReader(r io.Reader, name, declared string, maxBytes int64, w io.Writer) (*media.File, error) {
	mt, _, _ := mime.ParseMediaType(declared)
	head, size, err := copyCapped(w, r, maxBytes)
	if err != nil {
		return nil, err
	}
	return media.Identify(name, mt, head, size), nil
}
