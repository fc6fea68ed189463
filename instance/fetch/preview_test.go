package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParsePreview(t *testing.T) {
	p, img := parsePreview([]byte(`<!doctype html><html><head><title> Page title </title>
<meta name="description" content="plain description">
<meta property="og:image" content="/a.png"><meta property="og:image:secure_url" content="https://cdn/b.png">
</head><body><meta property="og:title" content="in the body: ignored"></body></html>`))
	if p.Title != "Page title" || p.Description != "plain description" || img != "https://cdn/b.png" {
		t.Fatalf("preview = %+v, image %q", p, img)
	}
	p, img = parsePreview([]byte(`<meta property="og:title" content="OG"><meta property="OG:Description" content="` +
		strings.Repeat("é", 2000) + `"><title>ignored</title>`))
	if p.Title != "OG" || len([]rune(p.Description)) != maxPreviewText || img != "" {
		t.Fatalf("preview = %+v, image %q", p.Title, img)
	}
}

func TestPreviewThroughTheGuard(t *testing.T) {
	var imageAsked bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<head><meta property="og:title" content="T"><meta property="og:image" content="img.png"></head>`)
		case "/img.png":
			imageAsked = true
			w.Header().Set("Content-Type", "image/png")
			fmt.Fprint(w, "\x89PNG fake")
		case "/pdf":
			w.Header().Set("Content-Type", "application/pdf")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The default guard refuses the loopback server: no request reaches it.
	if _, err := NewFetcher(Guard{}, 1<<20).Preview(ctx, srv.URL+"/page"); !errors.Is(err, ErrBlocked) || imageAsked {
		t.Fatalf("loopback preview: %v", err)
	}
	open := NewFetcher(Guard{AllowPrivate: true}, 1<<20)
	p, err := open.Preview(ctx, srv.URL+"/page")
	if err != nil || p.Title != "T" || string(p.Image) != "\x89PNG fake" {
		t.Fatalf("preview = %+v, %v", p, err)
	}
	if _, err := open.Preview(ctx, srv.URL+"/pdf"); !errors.Is(err, ErrUnsupportedType) {
		t.Fatalf("a PDF page: %v", err)
	}
	if _, err := open.Preview(ctx, srv.URL+"/missing"); !errors.Is(err, ErrUpstream) {
		t.Fatalf("a missing page: %v", err)
	}
	if _, err := open.Preview(ctx, "file:///etc/passwd"); !errors.Is(err, ErrBadURL) {
		t.Fatalf("a file URL: %v", err)
	}
}
