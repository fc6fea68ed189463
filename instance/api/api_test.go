package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

const token = "s3cret-token"

// fakeEngine is a test double of account.Engine.
type fakeEngine struct {
	mu       sync.Mutex
	status   account.Status
	wakes    atomic.Int64
	logouts  atomic.Int64
	reboots  atomic.Int64
	fail     error
	onWake   func()
	lastPair string
}

func (e *fakeEngine) Status() account.Status { e.mu.Lock(); defer e.mu.Unlock(); return e.status }
func (e *fakeEngine) setStatus(s account.Status) {
	e.mu.Lock()
	e.status = s
	e.mu.Unlock()
}
func (e *fakeEngine) Logout(context.Context) error { e.logouts.Add(1); return e.fail }
func (e *fakeEngine) Reboot(context.Context) error { e.reboots.Add(1); return e.fail }
func (e *fakeEngine) PairingCode(_ context.Context, phone string) (string, error) {
	e.mu.Lock()
	e.lastPair = phone
	e.mu.Unlock()
	return "ABCD-EFGH", e.fail
}
func (e *fakeEngine) Me(context.Context) (account.Me, error) {
	return account.Me{ID: "17472822486@c.us", Phone: "17472822486", Name: "Ilya"}, e.fail
}
func (e *fakeEngine) WakeQueue() {
	e.wakes.Add(1)
	if e.onWake != nil {
		go e.onWake()
	}
}

type harness struct {
	t      testing.TB
	srv    *Server
	st     *store.Store
	eng    *fakeEngine
	media  *media.Dir
	logBuf *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newHarness(t testing.TB, storeOpts store.Options, mod func(*Options)) *harness {
	t.Helper()
	st, err := store.Open(context.Background(), storeOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	md, err := media.Open(t.TempDir(), token)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, eng: &fakeEngine{status: account.Status{AccountStatus: account.StatusInit,
		Substatus: account.SubstatusConnecting}}, media: md, logBuf: &syncBuffer{}}
	opts := Options{Store: st, Engine: h.eng, Media: md, Token: token, MaxFileBytes: 4096, GroupWait: 5 * time.Second,
		Fetcher: fetch.NewFetcher(fetch.Guard{}, 4096), Logger: slog.New(slog.NewJSONHandler(h.logBuf, nil))}
	if mod != nil {
		mod(&opts)
	}
	h.srv, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func sqliteHarness(t *testing.T, mod func(*Options)) *harness {
	return newHarness(t, store.Options{DataDir: t.TempDir()}, mod)
}

// do sends a request with the token in the query string (unless the path has token= already or
// auth is false) and returns the recorder.
func (h *harness) do(method, path, contentType string, body io.Reader, auth bool) *httptest.ResponseRecorder {
	h.t.Helper()
	if auth {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "token=" + token
	}
	req := httptest.NewRequest(method, path, body)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func (h *harness) postJSON(path, body string) *httptest.ResponseRecorder {
	return h.do(http.MethodPost, path, "application/json", strings.NewReader(body), true)
}

func decode[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("response %d %q is not JSON: %v", rec.Code, rec.Body.String(), err)
	}
	return v
}

func TestAuth(t *testing.T) {
	h := sqliteHarness(t, nil)
	for _, path := range []string{"/status", "/messages", "/showMessagesQueue", "/webhook", "/me"} {
		if rec := h.do("GET", path, "", nil, false); rec.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without token = %d", path, rec.Code)
		} else if e := decode[errorBody](t, rec); e.Error == "" {
			t.Errorf("GET %s: no error message", path)
		}
		if rec := h.do("GET", path+"?token=wrong", "", nil, false); rec.Code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token = %d", path, rec.Code)
		}
	}
	req := httptest.NewRequest("GET", "/status", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("Bearer auth = %d", rec.Code)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		if rec := h.do("GET", path, "", nil, false); rec.Code != http.StatusOK {
			t.Errorf("GET %s without token = %d", path, rec.Code)
		}
	}
	if rec := h.do("GET", "/nope", "", nil, true); rec.Code != http.StatusNotFound || decode[errorBody](t, rec).Error == "" {
		t.Errorf("unknown path = %d %s", rec.Code, rec.Body)
	}
	h.do("GET", "/status?token="+token+"&x=1", "", nil, false)
	if logs := h.logBuf.String(); strings.Contains(logs, token) || !strings.Contains(logs, "REDACTED") {
		t.Fatalf("token in logs or query not redacted:\n%s", logs)
	}
}

func TestStatusAndQRCode(t *testing.T) {
	h := sqliteHarness(t, nil)
	st := decode[statusResponse](t, h.do("GET", "/status", "", nil, true))
	if st.AccountStatus != "init" || st.QRCode != "" || st.StatusData != nil {
		t.Fatalf("status = %+v", st)
	}
	if rec := h.do("GET", "/qr_code", "", nil, true); rec.Code != http.StatusNotFound {
		t.Fatalf("qr_code without QR = %d", rec.Code)
	}
	qr := "https://wa.me/settings/linked_devices#2@abc,def,ghi,jkl,1"
	h.eng.setStatus(account.Status{AccountStatus: account.StatusGotQRCode, Substatus: account.SubstatusPairing, QR: qr, Sandbox: true})
	st = decode[statusResponse](t, h.do("GET", "/status?full=true", "", nil, true))
	if st.AccountStatus != "got qr code" || st.StatusData == nil || st.StatusData.Substatus != "pairing" || st.StatusData.Network != "sandbox" {
		t.Fatalf("status = %+v", st)
	}
	raw, ok := strings.CutPrefix(st.QRCode, "data:image/png;base64,")
	if !ok {
		t.Fatalf("qrCode = %.40s", st.QRCode)
	}
	pngData, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(pngData)); err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("qrCode PNG: %v", err)
	}
	rec := h.do("GET", "/qr_code", "", nil, true)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/png" || !bytes.Equal(rec.Body.Bytes(), pngData) {
		t.Fatalf("qr_code = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	rec = h.do("GET", "/qr_code?format=raw", "", nil, true)
	if rec.Code != 200 || rec.Body.String() != qr || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("raw qr = %d %q", rec.Code, rec.Body)
	}
	if rec := h.do("GET", "/qr_code?format=gif", "", nil, true); rec.Code != http.StatusBadRequest {
		t.Fatalf("bad format = %d", rec.Code)
	}
}

func TestSendMessageQueuesDurably(t *testing.T) {
	h := sqliteHarness(t, nil)
	rec := h.postJSON("/sendMessage", `{"phone": 17472822486, "body": "Hello, world! 🍏"}`)
	if rec.Code != 200 {
		t.Fatalf("sendMessage = %d %s", rec.Code, rec.Body)
	}
	resp := decode[sendResponse](t, rec)
	if !resp.Sent || resp.Message != "ok" || resp.QueueNumber != 1 || !strings.HasPrefix(resp.ID, "true_17472822486@c.us_3EB0") {
		t.Fatalf("response = %+v", resp)
	}
	if h.eng.wakes.Load() != 1 {
		t.Fatal("engine not woken")
	}
	rec = h.do("POST", "/sendMessage", "application/x-www-form-urlencoded",
		strings.NewReader(`chatId=120363025246125486%40g.us&body=hi`), true)
	if rec.Code != 200 {
		t.Fatalf("form sendMessage = %d %s", rec.Code, rec.Body)
	}
	q := decode[queueResponse](t, h.do("GET", "/showMessagesQueue", "", nil, true))
	if q.TotalMessages != 2 || q.First100[0].Body != "Hello, world! 🍏" || q.First100[0].Type != "text" ||
		q.First100[1].ChatID != "120363025246125486@g.us" || q.First100[0].MessageID != resp.ID {
		t.Fatalf("queue = %+v", q)
	}
	cleared := decode[map[string]any](t, h.do("POST", "/clearMessagesQueue", "", nil, true))
	if cleared["message"] != "Cleared 2 messages" || len(cleared["messageTextsExample"].([]any)) != 2 {
		t.Fatalf("clear = %v", cleared)
	}
	q = decode[queueResponse](t, h.do("GET", "/showMessagesQueue", "", nil, true))
	if q.TotalMessages != 0 || q.First100 == nil {
		t.Fatalf("queue after clear = %+v", q)
	}
}

func TestBadInputs(t *testing.T) {
	h := sqliteHarness(t, nil)
	big := strings.Repeat("x", DefaultMaxJSONBytes+10)
	tests := []struct {
		name, path, ctype, body string
		want                    int
	}{
		{"malformed JSON", "/sendMessage", "application/json", `{"phone": "1747`, 400},
		{"wrong type", "/sendMessage", "application/json", `{"phone": "17472822486", "body": {"text": 5}}`, 400},
		{"missing body", "/sendMessage", "application/json", `{"phone": "17472822486"}`, 400},
		{"empty body field", "/sendMessage", "application/json", `{"phone": "17472822486", "body": "  "}`, 400},
		{"missing chat", "/sendMessage", "application/json", `{"body": "hi"}`, 400},
		{"empty request", "/sendMessage", "", ``, 400},
		{"bad phone", "/sendMessage", "application/json", `{"phone": "12ab", "body": "hi"}`, 422},
		{"bad chatId", "/sendMessage", "application/json", `{"chatId": "17472822486@example.com", "body": "hi"}`, 422},
		{"conflicting chat", "/sendMessage", "application/json", `{"chatId": "17472822486@c.us", "phone": "79680565372", "body": "hi"}`, 422},
		{"bad quoted id", "/sendMessage", "application/json", `{"phone": "17472822486", "body": "hi", "quotedMsgId": "x"}`, 422},
		{"xml", "/sendMessage", "application/xml", `<a/>`, 415},
		{"too large", "/sendMessage", "application/json", `{"phone": "17472822486", "body": "` + big + `"}`, 413},
		{"file: bad base64", "/sendFile", "application/json", `{"phone": "17472822486", "body": "data:image/png;base64,@@@", "filename": "a.png"}`, 422},
		{"file: unknown media type", "/sendFile", "application/json", `{"phone": "17472822486", "body": "data:nonsense;base64,AAAA", "filename": "a"}`, 415},
		{"file: missing filename", "/sendFile", "application/json", `{"phone": "17472822486", "body": "data:text/plain;base64,AAAA"}`, 400},
		{"file: missing body", "/sendFile", "application/json", `{"phone": "17472822486", "filename": "a.txt"}`, 400},
		{"file: too large", "/sendFile", "application/json", `{"phone": "17472822486", "body": "data:text/plain;base64,` + strings.Repeat("QUFB", 2000) + `", "filename": "a.txt"}`, 413},
		{"file: loopback URL", "/sendFile", "application/json", `{"phone": "17472822486", "body": "http://127.0.0.1:1/x.png", "filename": "x.png"}`, 422},
		{"file: metadata URL", "/sendFile", "application/json", `{"phone": "17472822486", "body": "http://169.254.169.254/latest", "filename": "x"}`, 422},
		{"file: bad caption", "/sendFile", "application/json", `{"phone": "17472822486", "body": "data:text/plain;base64,QUFB", "filename": "a.txt", "caption": "\xff"}`, 400},
		{"file: ftp URL", "/sendFile", "application/json", `{"phone": "17472822486", "body": "ftp://example.com/x", "filename": "x"}`, 400},
		{"group: no name", "/group", "application/json", `{"phones": ["17472822486"]}`, 400},
		{"group: no phones", "/group", "application/json", `{"groupName": "x"}`, 400},
		{"group: bad phone", "/group", "application/json", `{"groupName": "x", "phones": ["abc"]}`, 422},
		{"group: long name", "/group", "application/json", `{"groupName": "` + strings.Repeat("n", 101) + `", "phones": ["17472822486"]}`, 422},
		{"webhook: missing", "/webhook", "application/json", `{}`, 400},
		{"webhook: not http", "/webhook", "application/json", `{"webhookUrl": "file:///etc/passwd"}`, 422},
		{"webhook: credentials", "/webhook", "application/json", `{"webhookUrl": "https://u:p@example.com/"}`, 422},
		{"ack: missing", "/settings/ackNotificationsOn", "application/json", `{}`, 400},
		{"ack: bad value", "/settings/ackNotificationsOn", "application/json", `{"ackNotificationsOn": "maybe"}`, 400},
		{"pairing: no phone", "/pairingCode", "application/json", `{}`, 400},
		{"pairing: bad phone", "/pairingCode", "application/json", `{"phone": "+0"}`, 422},
	}
	for _, tt := range tests {
		rec := h.do("POST", tt.path, tt.ctype, strings.NewReader(tt.body), true)
		if rec.Code != tt.want {
			t.Errorf("%s: %d %s, want %d", tt.name, rec.Code, rec.Body, tt.want)
			continue
		}
		if e := decode[errorBody](t, rec); e.Error == "" {
			t.Errorf("%s: no error message", tt.name)
		}
	}
	for _, q := range []string{"lastMessageNumber=-1", "lastMessageNumber=abc", "limit=-1", "limit=x",
		"last=maybe", "chatId=nonsense", "min_time=x", "max_time=-5", "min_time=20&max_time=10"} {
		if rec := h.do("GET", "/messages?"+q, "", nil, true); rec.Code != 400 {
			t.Errorf("GET /messages?%s = %d", q, rec.Code)
		}
	}
	// Nothing half-written: no item was queued and no file was kept by any refused request.
	if total, _, _ := h.st.ListQueue(context.Background(), 1); total != 0 {
		t.Fatalf("%d items queued by bad requests", total)
	}
}

func TestSendFile(t *testing.T) {
	pic := []byte("\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 40))
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
			return
		}
		_, _ = w.Write(pic)
	}))
	defer files.Close()
	// The test's file server is on loopback: allow exactly that address.
	h := sqliteHarness(t, func(o *Options) {
		o.Fetcher = fetch.NewFetcher(fetch.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, 4096)
	})
	check := func(rec *httptest.ResponseRecorder, wantKind, wantName, wantCaption string) {
		t.Helper()
		if rec.Code != 200 {
			t.Fatalf("sendFile = %d %s", rec.Code, rec.Body)
		}
		resp := decode[sendResponse](t, rec)
		it, err := h.st.QueueItem(context.Background(), resp.QueueNumber)
		if err != nil {
			t.Fatal(err)
		}
		p, err := it.Payload()
		if err != nil {
			t.Fatal(err)
		}
		meta, _ := p.(queue.File)
		if it.Kind != store.KindFile || meta.MediaType != wantKind || meta.FileName != wantName || meta.Caption != wantCaption {
			t.Fatalf("queued %+v meta %+v", it, meta)
		}
		path, err := h.media.Path(meta.File)
		if err != nil {
			t.Fatal(err)
		}
		if data, err := os.ReadFile(path); err != nil || len(data) != meta.Size {
			t.Fatalf("stored file: %d bytes %v", len(data), err)
		}
	}
	b64 := base64.StdEncoding.EncodeToString(pic)
	check(h.postJSON("/sendFile", `{"phone":"17472822486","body":"data:image/png;base64,`+b64+`","filename":"4x4pixel.jpg","caption":"hi"}`),
		"image", "4x4pixel.jpg", "hi")
	check(h.postJSON("/sendFile", `{"chatId":"17472822486@c.us","body":"`+files.URL+`/NatureCover2001.jpg","filename":"../cover.jpg"}`),
		"image", "cover.jpg", "")
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("phone", "17472822486")
	_ = mw.WriteField("caption", "report")
	fw, _ := mw.CreateFormFile("body", "report.pdf")
	_, _ = fw.Write([]byte("%PDF-1.4 test"))
	_ = mw.Close()
	check(h.do("POST", "/sendFile", mw.FormDataContentType(), &buf, true), "document", "report.pdf", "report")
	if rec := h.postJSON("/sendFile", `{"phone":"17472822486","body":"`+files.URL+`/redirect","filename":"x"}`); rec.Code != 422 {
		t.Fatalf("redirect to metadata = %d %s", rec.Code, rec.Body)
	}
}

func TestGroup(t *testing.T) {
	h := sqliteHarness(t, func(o *Options) { o.GroupWait = 200 * time.Millisecond })
	rec := h.postJSON("/group", `{"phones":["17472822486","79680565372"],"messageText":"Safari is the new IE","groupName":"Browsers"}`)
	queued := decode[groupResponse](t, rec)
	if rec.Code != 200 || queued.Created || queued.QueueNumber != 1 {
		t.Fatalf("group without engine = %d %+v", rec.Code, queued)
	}
	// An engine that creates the group at once.
	h2 := sqliteHarness(t, nil)
	h2.eng.onWake = func() {
		ctx := context.Background()
		items, _ := h2.st.Due(ctx, time.Now(), 10)
		for _, it := range items {
			p, _ := it.Payload()
			meta, _ := p.(queue.Group)
			if it.Kind != store.KindGroup || len(meta.Participants) != 2 || meta.Participants[0] != "17472822486@c.us" {
				_ = h2.st.MarkFailed(ctx, it.QueueNumber, fmt.Sprintf("unexpected item %+v", meta))
				continue
			}
			_ = h2.st.MarkSending(ctx, it.QueueNumber)
			_ = h2.st.MarkSent(ctx, it.QueueNumber, "120363000000000001@g.us", nil)
		}
	}
	rec = h2.postJSON("/group", `{"phones":["17472822486","+7 968 056-53-72"],"groupName":"Browsers"}`)
	created := decode[groupResponse](t, rec)
	if rec.Code != 200 || !created.Created || created.ChatID != "120363000000000001@g.us" {
		t.Fatalf("group = %d %+v", rec.Code, created)
	}
}

func TestMessagesPaging(t *testing.T) {
	for name, opts := range map[string]func(t *testing.T) store.Options{
		"sqlite":   func(t *testing.T) store.Options { return store.Options{DataDir: t.TempDir()} },
		"postgres": func(t *testing.T) store.Options { return store.Options{Database: testpg.Shared(t).NewDatabase(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, opts(t), nil)
			ctx := context.Background()
			rel, _ := h.media.Save(media.Incoming, "pic.jpg", []byte("jpeg"))
			for i := range 150 {
				m := chat.Message{ID: fmt.Sprintf("false_17472822486@c.us_3EB0%018d", i), Type: chat.TypeChat,
					Body: fmt.Sprint(i), Author: "17472822486@c.us", SenderName: "Ilya", Time: 1504208593}
				if i == 149 {
					m.Type, m.Body = chat.TypeImage, h.media.Link(rel)
				}
				if _, _, err := h.st.AppendMessage(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			page := decode[messagesResponse](t, h.do("GET", "/messages", "", nil, true))
			if len(page.Messages) != 100 || page.LastMessageNumber != 100 || page.Messages[0].MessageNumber != 1 {
				t.Fatalf("first page: %d messages, last %d", len(page.Messages), page.LastMessageNumber)
			}
			page = decode[messagesResponse](t, h.do("GET", "/messages?lastMessageNumber=99", "", nil, true))
			if len(page.Messages) != 51 || page.Messages[0].MessageNumber != 100 || page.LastMessageNumber != 150 {
				t.Fatalf("page after 99: %d messages, last %d", len(page.Messages), page.LastMessageNumber)
			}
			img := page.Messages[50]
			if !strings.HasPrefix(img.Body, DefaultPublicURL+"/media/in/") { // never the Host header (example.com)
				t.Fatalf("media body = %q", img.Body)
			}
			// The media link works without the token (it is signed) and not with a forged signature.
			path := strings.TrimPrefix(img.Body, "http://example.com")
			if rec := h.do("GET", path, "", nil, false); rec.Code != 200 || rec.Body.String() != "jpeg" {
				t.Fatalf("media link = %d", rec.Code)
			}
			page0 := h.do("GET", path, "", nil, false)
			if page0.Header().Get("Content-Disposition") != "inline" || page0.Header().Get("Content-Type") != "image/jpeg" {
				t.Fatalf("image headers = %v", page0.Header())
			}
			html, _ := h.media.Save(media.Incoming, "page.html", []byte("<script>alert(1)</script>"))
			if rec := h.do("GET", h.media.Link(html), "", nil, false); rec.Header().Get("Content-Disposition") != "attachment" ||
				!strings.Contains(rec.Header().Get("Content-Security-Policy"), "sandbox") {
				t.Fatalf("html headers = %v", rec.Header())
			}
			if rec := h.do("GET", "/media/"+rel+"?sig=forged", "", nil, false); rec.Code != 401 {
				t.Fatalf("forged media link = %d", rec.Code)
			}
			if rec := h.do("GET", "/media/in/..%2f..%2fetc%2fpasswd", "", nil, true); rec.Code != 404 {
				t.Fatalf("traversal = %d", rec.Code)
			}
			page = decode[messagesResponse](t, h.do("GET", "/messages?lastMessageNumber=150", "", nil, true))
			if len(page.Messages) != 0 || page.LastMessageNumber != 150 || page.Messages == nil {
				t.Fatalf("empty page = %+v", page)
			}
			page = decode[messagesResponse](t, h.do("GET", "/messages?last&lastMessageNumber=3", "", nil, true))
			if len(page.Messages) != 100 || page.Messages[0].MessageNumber != 51 || page.LastMessageNumber != 150 {
				t.Fatalf("last: %d messages from %d", len(page.Messages), page.Messages[0].MessageNumber)
			}
			raw := h.do("GET", "/messages?lastMessageNumber=148&limit=1", "", nil, true).Body.String()
			for _, field := range []string{`"id":`, `"body":`, `"type":"chat"`, `"senderName":"Ilya"`, `"fromMe":false`,
				`"author":"17472822486@c.us"`, `"time":1504208593`, `"chatId":"17472822486@c.us"`, `"messageNumber":149`, `"lastMessageNumber":149`} {
				if !strings.Contains(raw, field) {
					t.Errorf("response lacks %s: %s", field, raw)
				}
			}
		})
	}
}

// hookSettings is a WebhookSettings of functions; nil ones do nothing.
type hookSettings struct {
	changed   func()
	managedBy func() string
}

func (h hookSettings) Changed() {
	if h.changed != nil {
		h.changed()
	}
}

func (h hookSettings) ManagedBy() string {
	if h.managedBy == nil {
		return ""
	}
	return h.managedBy()
}

func TestSettings(t *testing.T) {
	var kicks atomic.Int64
	h := sqliteHarness(t, func(o *Options) { o.Webhook = hookSettings{changed: func() { kicks.Add(1) }} })
	if w := decode[map[string]any](t, h.do("GET", "/webhook", "", nil, true)); w["set"] != false || w["webhookUrl"] != "" {
		t.Fatalf("webhook = %v", w)
	}
	w := decode[map[string]any](t, h.postJSON("/webhook", `{"webhookUrl":"https://requestb.in/1f9aj261"}`))
	if w["set"] != true || w["webhookUrl"] != "https://requestb.in/1f9aj261" || kicks.Load() != 1 {
		t.Fatalf("set webhook = %v", w)
	}
	if w := decode[map[string]any](t, h.do("GET", "/webhook", "", nil, true)); w["webhookUrl"] != "https://requestb.in/1f9aj261" {
		t.Fatalf("webhook = %v", w)
	}
	for body, want := range map[string]bool{`{"ackNotificationsOn":1}`: true, `{"ackNotificationsOn":"0"}`: false, `{"ackNotificationsOn":true}`: true} {
		got := decode[map[string]any](t, h.postJSON("/settings/ackNotificationsOn", body))
		if got["ackNotificationsOn"] != want || !h.st.Settings().AckNotifications == want {
			t.Fatalf("%s -> %v", body, got)
		}
	}
	got := decode[map[string]any](t, h.do("GET", "/settings/ackNotificationsOn?ackNotificationsOn=0", "", nil, true))
	if got["ackNotificationsOn"] != false || h.st.Settings().AckNotifications {
		t.Fatalf("GET set = %v", got)
	}
	got = decode[map[string]any](t, h.do("GET", "/settings/ackNotificationsOn", "", nil, true))
	if got["set"] != false || got["ackNotificationsOn"] != false {
		t.Fatalf("GET read = %v", got)
	}
}

func TestAccountActions(t *testing.T) {
	h := sqliteHarness(t, nil)
	for _, m := range []string{"GET", "POST"} {
		if r := decode[map[string]any](t, h.do(m, "/logout", "", nil, true)); r["result"] != "Logout request sent to WhatsApp" {
			t.Fatalf("logout = %v", r)
		}
		if r := decode[map[string]any](t, h.do(m, "/reboot", "", nil, true)); r["success"] != true {
			t.Fatalf("reboot = %v", r)
		}
	}
	if h.eng.logouts.Load() != 2 || h.eng.reboots.Load() != 2 {
		t.Fatal("engine not called")
	}
	if r := decode[map[string]any](t, h.postJSON("/pairingCode", `{"phone":"+1 747 282 2486"}`)); r["code"] != "ABCD-EFGH" || h.eng.lastPair != "17472822486" {
		t.Fatalf("pairingCode = %v (phone %s)", r, h.eng.lastPair)
	}
	if me := decode[account.Me](t, h.do("GET", "/me", "", nil, true)); me.ID != "17472822486@c.us" {
		t.Fatalf("me = %+v", me)
	}
	// Without an engine every account action is 503 and the status is init/offline.
	h2 := sqliteHarness(t, func(o *Options) { o.Engine = account.NoEngine{} })
	for _, req := range [][2]string{{"GET", "/logout"}, {"POST", "/reboot"}, {"GET", "/me"}} {
		if rec := h2.do(req[0], req[1], "", nil, true); rec.Code != 503 {
			t.Errorf("%s %s without engine = %d", req[0], req[1], rec.Code)
		}
	}
	if rec := h2.postJSON("/pairingCode", `{"phone":"17472822486"}`); rec.Code != 503 {
		t.Errorf("pairingCode without engine = %d", rec.Code)
	}
	st := decode[statusResponse](t, h2.do("GET", "/status?full=1", "", nil, true))
	if st.AccountStatus != "init" || st.StatusData.Substatus != "offline" {
		t.Fatalf("status without engine = %+v", st)
	}
}

func TestProbesMetricsOpenAPI(t *testing.T) {
	h := sqliteHarness(t, nil)
	h.postJSON("/sendMessage", `{"phone":"17472822486","body":"x"}`)
	metrics := h.do("GET", "/metrics", "", nil, false).Body.String()
	for _, want := range []string{"messenger_queue_length 1", `messenger_queue_enqueued_total{kind="text"} 1`,
		`messenger_http_requests_total{code="200",method="POST",route="/sendMessage"} 1`, "messenger_account_authenticated 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(h.do("GET", "/openapi.json", "", nil, false).Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, r := range h.srv.engine.Routes() {
		path := strings.NewReplacer("*file", "{file}", "*path", "{path}").Replace(r.Path)
		if _, ok := doc.Paths[path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("openapi.json lacks %s %s", r.Method, path)
		}
	}
	if r := decode[map[string]string](t, h.do("GET", "/readyz", "", nil, false)); r["status"] != "ready" {
		t.Fatalf("readyz = %v", r)
	}
	_ = h.st.Close()
	if rec := h.do("GET", "/readyz", "", nil, false); rec.Code != 503 {
		t.Fatalf("readyz with a closed store = %d", rec.Code)
	}
}

func TestRedactQuery(t *testing.T) {
	if got := RedactQuery("token=abc&lastMessageNumber=5"); strings.Contains(got, "abc") || !strings.Contains(got, "lastMessageNumber=5") {
		t.Fatalf("RedactQuery = %q", got)
	}
	if got := RedactQuery("%zz&token=abc"); got != "REDACTED" {
		t.Fatalf("RedactQuery(bad) = %q", got)
	}
}

func FuzzJSONHandlers(f *testing.F) {
	for _, s := range []string{`{"phone":"17472822486","body":"hi"}`, `{"chatId":1,"body":[]}`, `{"groupName":"g","phones":[1,"2"]}`,
		`{"webhookUrl":"http://x"}`, `{"ackNotificationsOn":2}`, `{"body":"data:;base64,AA==","filename":"x","phone":"17472822486"}`, `[]`, `null`} {
		f.Add(s)
	}
	h := newHarness(f, store.Options{DataDir: f.TempDir()}, func(o *Options) {
		o.GroupWait = time.Millisecond
		// Fuzzed URLs must never reach a network: this client refuses every request.
		o.Fetcher = &fetch.Fetcher{Client: &http.Client{Transport: refuseAll{}}, MaxBytes: 4096}
	})
	f.Fuzz(func(t *testing.T, body string) {
		h.t = t
		for _, path := range []string{"/sendMessage", "/sendFile", "/group", "/webhook", "/settings/ackNotificationsOn", "/pairingCode"} {
			rec := h.postJSON(path, body)
			if rec.Code >= 500 && rec.Code != 503 {
				t.Fatalf("%s %q -> %d %s", path, body, rec.Code, rec.Body)
			}
			var v map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatalf("%s %q -> non-JSON %q", path, body, rec.Body)
			}
			if rec.Code >= 400 && v["error"] == nil {
				t.Fatalf("%s %q -> %d without error field", path, body, rec.Code)
			}
		}
	})
}

// refuseAll is a transport that makes no connection.
type refuseAll struct{}

func (refuseAll) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("test transport: %w", fetch.ErrBlocked)
}

// While spec.webhook owns the webhook settings, the API refuses to change them (they would be
// overwritten at once) and says where to change them; reading them still works.
func TestWebhookManagedBySpec(t *testing.T) {
	owner := "spec.webhook of MessengerInstance default/sales"
	h := sqliteHarness(t, func(o *Options) { o.Webhook = hookSettings{managedBy: func() string { return owner }} })
	for _, path := range []string{"/webhook", "/settings/ackNotificationsOn"} {
		body := `{"webhookUrl":"https://example.com/hook"}`
		if path != "/webhook" {
			body = `{"ackNotificationsOn":1}`
		}
		rec := h.postJSON(path, body)
		if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), owner) {
			t.Errorf("POST %s: %d %s, want 409 naming %q", path, rec.Code, rec.Body.String(), owner)
		}
	}
	if rec := h.do(http.MethodGet, "/webhook", "", nil, true); rec.Code != http.StatusOK {
		t.Errorf("GET /webhook: %d", rec.Code)
	}
	if st := h.st.Settings(); st.WebhookURL != "" || st.AckNotifications {
		t.Errorf("settings changed: %+v", st)
	}
}
