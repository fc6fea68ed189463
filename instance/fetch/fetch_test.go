package fetch

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestGuardTable(t *testing.T) {
	var g Guard
	refused := []string{"127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
		"169.254.1.1", "fe80::1", "fc00::1", "fd00:ec2::254", "0.0.0.0", "::", "100.64.0.1", "224.0.0.1",
		"255.255.255.255", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1", "198.18.0.1"}
	for _, s := range refused {
		if g.Allowed(netip.MustParseAddr(s)) {
			t.Errorf("%s allowed", s)
		}
		if err := g.Control("tcp", net.JoinHostPort(s, "80"), nil); !errors.Is(err, ErrBlocked) {
			t.Errorf("Control(%s) = %v", s, err)
		}
	}
	for _, s := range []string{"93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "172.32.0.1", "192.169.0.1"} {
		if !g.Allowed(netip.MustParseAddr(s)) {
			t.Errorf("%s refused", s)
		}
	}
	if !(Guard{AllowPrivate: true}).Allowed(netip.MustParseAddr("127.0.0.1")) {
		t.Error("AllowPrivate does not allow loopback")
	}
	g.Allow = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
	if !g.Allowed(netip.MustParseAddr("10.1.2.3")) || g.Allowed(netip.MustParseAddr("10.2.0.1")) {
		t.Error("Allow prefixes not applied exactly")
	}
}

// serveOn starts an HTTP server on a given loopback address.
func serveOn(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFetchSSRF(t *testing.T) {
	pic := pngBytes(t)
	internal := serveOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(pic)
	}))
	// "public" stands for an allowed server: 127.0.0.2 is explicitly allowed below.
	public := serveOn(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect-internal":
			http.Redirect(w, r, internal.URL+"/secret", http.StatusFound)
		case "/redirect-localhost":
			_, port, _ := net.SplitHostPort(internal.Listener.Addr().String())
			http.Redirect(w, r, "http://localhost:"+port+"/", http.StatusFound)
		case "/redirect-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case "/big":
			_, _ = w.Write(make([]byte, 2000))
		case "/missing":
			http.NotFound(w, r)
		default:
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(pic)
		}
	}))
	g := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	f := NewFetcher(g, 1000)
	ctx := context.Background()
	_, internalPort, _ := net.SplitHostPort(internal.Listener.Addr().String())
	tests := []struct {
		url  string
		want error
	}{
		{public.URL + "/pic.png", nil},
		{internal.URL + "/", ErrBlocked},
		{"http://localhost:" + internalPort + "/", ErrBlocked}, // a name resolving to loopback
		{"http://[::1]:" + internalPort + "/", ErrBlocked},
		{"http://169.254.169.254/latest/meta-data/", ErrBlocked},
		{public.URL + "/redirect-internal", ErrBlocked},
		{public.URL + "/redirect-localhost", ErrBlocked},
		{public.URL + "/redirect-file", ErrBlocked},
		{public.URL + "/big", ErrTooLarge},
		{public.URL + "/missing", ErrUpstream},
		{"ftp://example.com/x", ErrBadURL},
		{"/relative", ErrBadURL},
		{"http://user:pw@127.0.0.2/", ErrBadURL},
	}
	for _, tt := range tests {
		var got bytes.Buffer
		file, err := f.Get(ctx, tt.url, "", &got)
		if tt.want == nil {
			if err != nil || file.MIME != "image/png" || file.Name != "pic.png" || file.Kind() != "image" ||
				file.Size != int64(len(pic)) || !bytes.Equal(got.Bytes(), pic) {
				t.Errorf("Get(%s) = %+v, %v", tt.url, file, err)
			}
			continue
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("Get(%s) error = %v, want %v", tt.url, err, tt.want)
		}
	}
	// With the allow flag the internal server is reachable.
	open := NewFetcher(Guard{AllowPrivate: true}, 1000)
	if _, err := open.Get(ctx, internal.URL+"/x.png", "", io.Discard); err != nil {
		t.Errorf("AllowPrivate fetch: %v", err)
	}
}

func TestDNSRebindingIsCaughtAtDial(t *testing.T) {
	// Whatever a resolver said earlier, the dialer's Control sees the address really dialed.
	internal := serveOn(t, "127.0.0.1:0", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	c := Guard{}.Client(5 * time.Second)
	tr := c.Transport.(*http.Transport)
	base := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		// A rebinding resolver: the check-time name answer was public, the dial-time one is loopback.
		return base(ctx, network, internal.Listener.Addr().String())
	}
	_, err := c.Get("http://rebind.example/")
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("rebinding dial = %v, want ErrBlocked", err)
	}
}

func TestParseDataURI(t *testing.T) {
	pic := pngBytes(t)
	b64 := base64.StdEncoding.EncodeToString(pic)
	var got bytes.Buffer
	f, err := ParseDataURI("data:image/png;base64,"+b64, "4x4pixel.jpg", 10000, &got)
	if err != nil || f.MIME != "image/png" || !bytes.Equal(got.Bytes(), pic) || f.Size != int64(len(pic)) || f.Name != "4x4pixel.jpg" {
		t.Fatalf("ParseDataURI = %+v %v", f, err)
	}
	got.Reset()
	if f, err := ParseDataURI("data:,hello%20world", "", 100, &got); err != nil || got.String() != "hello world" || f.MIME != "text/plain" {
		t.Fatalf("plain data URI = %+v %v", f, err)
	}
	if f, err := ParseDataURI("data:application/pdf;base64,"+base64.RawURLEncoding.EncodeToString([]byte("%PDF-1.4 x")), "a", 100, io.Discard); err != nil || f.MIME != "application/pdf" || f.Name != "a.pdf" {
		t.Fatalf("unpadded URL base64 = %+v %v", f, err)
	}
	// Line-wrapped base64 (spaces, tabs, CRLF) decodes as a stream to the same bytes.
	wrapped := ""
	for i := 0; i < len(b64); i += 10 {
		wrapped += b64[i:min(i+10, len(b64))] + "\r\n \t"
	}
	got.Reset()
	if _, err := ParseDataURI("data:image/png;base64,"+wrapped, "p.png", 10000, &got); err != nil || !bytes.Equal(got.Bytes(), pic) {
		t.Fatalf("wrapped base64 = %v (%d bytes)", err, got.Len())
	}
	bad := []struct {
		in   string
		want error
	}{
		{"data:image/png;base64,!!!notbase64", ErrBadData},
		{"data:image/png;base64", ErrBadData},
		{"image/png;base64,AAAA", ErrBadData},
		{"data:image/png;base64,", ErrBadData},
		{"data:notatype;base64,AAAA", ErrUnsupportedType},
		{"data:image/png;base64," + strings.Repeat("A", 400), ErrTooLarge},
	}
	for _, tt := range bad {
		if _, err := ParseDataURI(tt.in, "x", 100, io.Discard); !errors.Is(err, tt.want) {
			t.Errorf("ParseDataURI(%.40q) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func ExampleGuard_Allowed() {
	fmt.Println(Guard{}.Allowed(netip.MustParseAddr("169.254.169.254")))
	// Output: false
}

func FuzzParseDataURI(f *testing.F) {
	f.Add("data:image/png;base64,iVBORw0KGgo=", "a.png")
	f.Add("data:,hello", "")
	f.Add("data:text/plain;charset=utf-8;base64,QUFB", "../x")
	f.Fuzz(func(t *testing.T, uri, name string) {
		var got bytes.Buffer
		file, err := ParseDataURI(uri, name, 256, &got)
		if err != nil {
			if !errors.Is(err, ErrBadData) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnsupportedType) {
				t.Fatalf("ParseDataURI(%q) error %v wraps no known error", uri, err)
			}
			return
		}
		if got.Len() == 0 || got.Len() > 256 || file.Size != int64(got.Len()) || file.MIME == "" || file.Name == "" ||
			strings.ContainsAny(file.Name, "/\\") {
			t.Fatalf("ParseDataURI(%q, %q) = %+v", uri, name, file)
		}
	})
}
