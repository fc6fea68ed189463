package api

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/fetch"
)

// Hostile inputs: each gets its JSON error, nothing is echoed or redirected.
func TestHostileInputs(t *testing.T) {
	h := sqliteHarness(t, func(o *Options) { o.PublicURL = "https://wa.example.org/" })
	tests := []struct {
		name, method, path, ctype, body string
		want                            int
		wantInError                     string
	}{
		{"trailing slash with token", "GET", "/status/?token=" + token, "", "", 404, "no such endpoint"},
		{"fixed path with token", "GET", "/STATUS?token=" + token, "", "", 404, "no such endpoint"},
		{"invalid UTF-8 JSON value", "POST", "/sendMessage?token=" + token, "application/json", "{\"phone\":\"17472822486\",\"body\":\"a\xffb\"}", 422, `"body"`},
		{"lone surrogate escape", "POST", "/sendMessage?token=" + token, "application/json", `{"phone":"17472822486","body":"a\udc00b"}`, 422, `"body"`},
		{"high surrogate without low", "POST", "/sendFile?token=" + token, "application/json", `{"phone":"17472822486","body":"data:,x","filename":"a\ud83d.txt"}`, 422, `"filename"`},
		{"invalid UTF-8 nested", "POST", "/group?token=" + token, "application/json", "{\"groupName\":\"g\",\"phones\":[\"1\",\"\xc3\"]}", 422, `"phones[1]"`},
		{"invalid UTF-8 form", "POST", "/sendMessage?token=" + token, "application/x-www-form-urlencoded", "phone=17472822486&body=%FF", 422, `"body"`},
		{"oversized JSON", "POST", "/sendMessage?token=" + token, "application/json", `{"body":"` + strings.Repeat("x", DefaultMaxJSONBytes) + `"}`, 413, "too large"},
		{"malformed JSON", "POST", "/sendMessage?token=" + token, "application/json", `{"body":`, 400, "malformed"},
	}
	for _, tt := range tests {
		rec := h.do(tt.method, tt.path, tt.ctype, strings.NewReader(tt.body), false)
		if rec.Code != tt.want || rec.Header().Get("Location") != "" {
			t.Errorf("%s: %d (Location %q) %s, want %d", tt.name, rec.Code, rec.Header().Get("Location"), rec.Body, tt.want)
			continue
		}
		if e := decode[errorBody](t, rec); !strings.Contains(e.Error, tt.wantInError) {
			t.Errorf("%s: error %q does not mention %s", tt.name, e.Error, tt.wantInError)
		}
	}
	// Valid escapes pass: a surrogate pair and an escaped backslash before u.
	if rec := h.postJSON("/sendMessage", `{"phone":"17472822486","body":"\ud83c\udf4f \\udc00"}`); rec.Code != 200 {
		t.Errorf("valid escapes: %d %s", rec.Code, rec.Body)
	}
}

// Media links come from PublicURL; a forged Host header changes nothing. The client address in
// logs is the peer's: X-Forwarded-For is believed only from a trusted proxy.
func TestHostAndForwardedHeadersAreNotTrusted(t *testing.T) {
	h := sqliteHarness(t, func(o *Options) { o.PublicURL = "https://wa.example.org/" })
	if h.srv.mediaBase(nil) != "https://wa.example.org" {
		t.Fatalf("media base = %q", h.srv.mediaBase(nil))
	}
	req := httptest.NewRequest("GET", "/status?token="+token, nil)
	req.Host = "evil.example"
	req.Header.Set("X-Forwarded-For", "203.0.113.66")
	h.srv.Handler().ServeHTTP(httptest.NewRecorder(), req)
	if logs := h.logBuf.String(); strings.Contains(logs, "203.0.113.66") || !strings.Contains(logs, `"client":"192.0.2.1"`) {
		t.Fatalf("client address from X-Forwarded-For:\n%s", logs)
	}
	trusting := sqliteHarness(t, func(o *Options) { o.TrustedProxies = []string{"192.0.2.0/24"} })
	trusting.srv.Handler().ServeHTTP(httptest.NewRecorder(), req)
	if logs := trusting.logBuf.String(); !strings.Contains(logs, `"client":"203.0.113.66"`) {
		t.Fatalf("trusted proxy's X-Forwarded-For ignored:\n%s", logs)
	}
	if _, err := New(Options{Store: h.st, Engine: h.eng, Media: h.media, Token: token, Fetcher: h.srv.opts.Fetcher,
		TrustedProxies: []string{"not-a-cidr"}}); err == nil {
		t.Error("bad trusted proxy accepted")
	}
	if _, err := New(Options{Store: h.st, Engine: h.eng, Media: h.media, Token: token, Fetcher: h.srv.opts.Fetcher,
		PublicURL: "javascript:alert(1)"}); err == nil {
		t.Error("bad public URL accepted")
	}
}

// At most MaxConcurrentFiles sendFile requests receive a file at once; the next one gets 503 with
// Retry-After. A download is streamed into the media intake, not gathered in memory; its file name
// loses bidi controls.
func TestFileIntakeIsCappedAndStreamed(t *testing.T) {
	release := make(chan struct{})
	firstHalf := make(chan struct{})
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "2000")
		_, _ = w.Write([]byte("%PDF-1.4 " + strings.Repeat("a", 991)))
		w.(http.Flusher).Flush()
		close(firstHalf)
		<-release
		_, _ = w.Write([]byte(strings.Repeat("b", 1000)))
	}))
	defer files.Close()
	h := sqliteHarness(t, func(o *Options) {
		o.Fetcher = fetch.NewFetcher(fetch.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, 4096)
		o.MaxConcurrentFiles, o.FileWait = 1, time.Millisecond
	})
	done := make(chan int)
	go func() {
		done <- h.postJSON("/sendFile", `{"phone":"17472822486","body":"`+files.URL+`/x","filename":"invoice\u202Efdp.exe"}`).Code
	}()
	<-firstHalf
	// The first half is already on disk in the intake while the download waits.
	var onDisk int64
	deadline := time.Now().Add(10 * time.Second)
	for onDisk < 1000 && time.Now().Before(deadline) {
		onDisk = intakeBytes(t, h)
		time.Sleep(10 * time.Millisecond)
	}
	if onDisk < 1000 {
		t.Fatalf("%d bytes in the intake while downloading, want the first 1000", onDisk)
	}
	rec := h.postJSON("/sendFile", `{"phone":"17472822486","body":"data:,x","filename":"x.txt"}`)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("second file while one is received = %d %s (Retry-After %q)", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	close(release)
	if code := <-done; code != 200 {
		t.Fatalf("streamed sendFile = %d", code)
	}
	if intakeBytes(t, h) != 0 {
		t.Fatal("intake not emptied after commit")
	}
	it, err := h.st.QueueItem(context.Background(), 1)
	if err != nil || it.Body != "invoicefdp.exe.pdf" && it.Body != "invoicefdp.exe" {
		t.Fatalf("queued %q %v", it.Body, err)
	}
	if rec := h.postJSON("/sendFile", `{"phone":"17472822486","body":"data:,x","filename":"x.txt"}`); rec.Code != 200 {
		t.Fatalf("sendFile after the slot was freed = %d %s", rec.Code, rec.Body)
	}
}

// intakeBytes sums the files in the media intake of h.
func intakeBytes(t *testing.T, h *harness) int64 {
	t.Helper()
	return h.media.IntakeBytes()
}

// Against a real server: a body trickling in slower than the minimum rate is cut off with 408
// and the connection closed; an unauthenticated request is answered before its body arrives.
func TestSlowBodyIsCutOff(t *testing.T) {
	h := sqliteHarness(t, func(o *Options) { o.BodyReadTimeout, o.MinBodyRate = 300*time.Millisecond, 1 })
	srv := httptest.NewServer(h.srv.Handler())
	t.Cleanup(srv.Close) // after the connections below are closed
	send := func(path string) (*bufio.Reader, net.Conn) {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		_, _ = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"body\":", path)
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		return bufio.NewReader(conn), conn
	}
	rd, _ := send("/sendMessage?token=" + token)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled body: %v %v", resp, err)
	}
	rd, _ = send("/sendMessage")
	resp, err = http.ReadResponse(rd, nil)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated stalled body: %v %v", resp, err)
	}
}
