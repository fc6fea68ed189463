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

// Get downloads rawURL. name, when empty, comes from the URL path.
func (f *Fetcher) Get(ctx context.Context, rawURL, name string) (*File, error) {
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
	data, err := io.ReadAll(io.LimitReader(resp.Body, f.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w from %s: %v", ErrUpstream, u.Host, err)
	}
	if int64(len(data)) > f.MaxBytes {
		return nil, fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, f.MaxBytes)
	}
	if name == "" {
		name = path.Base(resp.Request.URL.Path)
	}
	declared, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return newFile(name, declared, data), nil
}

// newFile picks the MIME type (declared unless it is generic) and sanitises the name.
func newFile(name, declared string, data []byte) *File {
	m := DetectMIME(name, data)
	if declared != "" && declared != "application/octet-stream" && declared != "text/plain" &&
		(m == "application/octet-stream" || m == "text/plain") {
		m = declared
	}
	return &File{Name: SanitizeFilename(name, m), MIME: m, Data: data}
}

// IsDataURI reports whether s looks like a data URI.
func IsDataURI(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "data:") }

// ParseDataURI decodes data:<mime>[;params];base64,<data> (or URL-encoded data) with a size cap.
func ParseDataURI(s, name string, maxBytes int64) (*File, error) {
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
	data, err := decodePayload(payload, isBase64)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, maxBytes)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: the data URI holds no data", ErrBadData)
	}
	return newFile(name, declared, data), nil
}

func decodePayload(payload string, isBase64 bool) ([]byte, error) {
	if !isBase64 {
		text, err := url.PathUnescape(payload)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadData, err)
		}
		return []byte(text), nil
	}
	payload = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, payload)
	enc := base64.StdEncoding
	if strings.ContainsAny(payload, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(payload, "=") && len(payload)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	data, err := enc.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64: %v", ErrBadData, err)
	}
	return data, nil
}

// FromUpload builds a file from a multipart upload.
func FromUpload(name, declared string, data []byte) *File {
	mt, _, _ := mime.ParseMediaType(declared)
	return newFile(name, mt, data)
}
