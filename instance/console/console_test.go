package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/console"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

const token = "console-test-token-7f3a"

// testEngine is a test double of account.Engine that announces its changes (account.Notifier).
type testEngine struct {
	mu      sync.Mutex
	status  account.Status
	subs    map[chan struct{}]bool
	reboots atomic.Int64
	logouts atomic.Int64
}

func (e *testEngine) Status() account.Status { e.mu.Lock(); defer e.mu.Unlock(); return e.status }

func (e *testEngine) set(s account.Status) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.status = s
	for ch := range e.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (e *testEngine) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	e.mu.Lock()
	if e.subs == nil {
		e.subs = map[chan struct{}]bool{}
	}
	e.subs[ch] = true
	e.mu.Unlock()
	return ch, func() { e.mu.Lock(); delete(e.subs, ch); e.mu.Unlock() }
}

func (e *testEngine) Logout(context.Context) error { e.logouts.Add(1); return nil }
func (e *testEngine) Reboot(context.Context) error { e.reboots.Add(1); return nil }
func (e *testEngine) PairingCode(context.Context, string) (string, error) {
	return "", account.ErrUnavailable
}
func (e *testEngine) Me(context.Context) (account.Me, error) {
	return account.Me{ID: "15550001111@c.us", Phone: "15550001111", Name: "Console <b>Test</b>"}, nil
}
func (e *testEngine) WakeQueue() {}

var pairing = account.Status{AccountStatus: account.StatusGotQRCode, Substatus: account.SubstatusPairing,
	QR: "2@first-qr-code,key,key,key", Message: "scan the QR code with the phone"}

type rig struct {
	t     *testing.T
	url   string
	eng   *testEngine
	st    *store.Store
	media *media.Dir
}

// newRig serves the real API (and so the console) on a real store, with a test engine.
func newRig(t *testing.T) *rig {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	md, err := media.Open(t.TempDir(), token)
	if err != nil {
		t.Fatal(err)
	}
	eng := &testEngine{status: pairing}
	srv, err := api.New(api.Options{Store: st, Engine: eng, Media: md, Token: token,
		Fetcher: fetch.NewFetcher(fetch.Guard{}, 4096)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &rig{t: t, url: hs.URL, eng: eng, st: st, media: md}
}

// client is a browser-like client: a cookie jar, no redirects followed (each is checked).
func (r *rig) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type answer struct {
	code   int
	header http.Header
	body   string
}

func (r *rig) do(c *http.Client, method, path string, form url.Values, hdr ...string) answer {
	r.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, r.url+path, body)
	if err != nil {
		r.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.Contains(a.header.Get("Location"), token) || strings.Contains(a.header.Get("Set-Cookie"), token) ||
		(strings.HasPrefix(path, "/console") && strings.Contains(a.body, token)) {
		r.t.Fatalf("%s %s: the token is in a Location or cookie: %v", method, path, a.header)
	}
	return a
}

// login signs c in through the form and returns the session cookie.
func (r *rig) login(c *http.Client, hdr ...string) *http.Cookie {
	r.t.Helper()
	a := r.do(c, "POST", "/console/login", url.Values{"token": {token}}, hdr...)
	if a.code != http.StatusSeeOther || a.header.Get("Location") != "./" {
		r.t.Fatalf("login: %d %v %s", a.code, a.header, a.body)
	}
	for _, ck := range (&http.Response{Header: a.header}).Cookies() {
		if ck.Name == console.CookieName {
			return ck
		}
	}
	r.t.Fatalf("login set no session cookie: %v", a.header)
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field in the page:\n%s", page)
	}
	return m[1]
}

// Without a session every console page is the login form or a 401; a wrong token is refused; the
// token in the URL is not accepted.
func TestConsoleAuth(t *testing.T) {
	r := newRig(t)
	c := r.client()
	if a := r.do(c, "GET", "/console", nil); a.code != http.StatusSeeOther || a.header.Get("Location") != "console/" {
		t.Fatalf("GET /console: %d %v", a.code, a.header)
	}
	a := r.do(c, "GET", "/console/", nil)
	if a.code != 200 || !strings.Contains(a.body, `action="./login"`) || strings.Contains(a.body, "qr.png") {
		t.Fatalf("GET /console/ without a session: %d\n%s", a.code, a.body)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if a.header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
	if !strings.Contains(a.header.Get("Content-Security-Policy"), "default-src 'self'") || a.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers: %v", a.header)
	}
	for _, p := range []string{"/console/state", "/console/qr.png", "/console/media/incoming/x.jpg", "/console/?token=" + token} {
		b := r.do(c, "GET", p, nil)
		if p == "/console/?token="+token {
			if !strings.Contains(b.body, `action="./login"`) {
				t.Errorf("the token in the URL signed in: %s", b.body)
			}
			continue
		}
		if b.code != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d", p, b.code)
		}
	}
	if b := r.do(c, "POST", "/console/action/reboot", url.Values{"confirm": {"yes"}}); b.code != http.StatusUnauthorized {
		t.Errorf("reboot without a session: %d", b.code)
	}
	wrong := r.do(c, "POST", "/console/login", url.Values{"token": {"not-the-token"}})
	if wrong.code != http.StatusUnauthorized || !strings.Contains(wrong.body, "Wrong token") || len(wrong.header.Values("Set-Cookie")) != 0 {
		t.Fatalf("wrong token: %d %v\n%s", wrong.code, wrong.header, wrong.body)
	}
	forged := &http.Cookie{Name: console.CookieName, Value: strings.Repeat("A", 75)}
	u, _ := url.Parse(r.url + "/console/")
	c.Jar.SetCookies(u, []*http.Cookie{forged})
	if b := r.do(c, "GET", "/console/state", nil); b.code != http.StatusUnauthorized {
		t.Errorf("forged cookie: %d", b.code)
	}
	if r.eng.reboots.Load() != 0 {
		t.Fatal("rebooted without a session")
	}
	// Bearer (what the gateway sends) works without a cookie.
	if b := r.do(r.client(), "GET", "/console/state", nil, "Authorization", "Bearer "+token); b.code != 200 {
		t.Errorf("Bearer: %d", b.code)
	}
}

// The session cookie is HttpOnly, SameSite=Strict, Secure behind TLS, holds no token, and ends
// with sign-out (the old value is refused afterwards).
func TestConsoleSessionCookie(t *testing.T) {
	r := newRig(t)
	c := r.client()
	ck := r.login(c)
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || strings.Contains(ck.Value, token) || ck.Path != "" {
		t.Fatalf("cookie: %+v", ck)
	}
	if tls := r.login(r.client(), "X-Forwarded-Proto", "https"); !tls.Secure {
		t.Fatalf("cookie behind TLS not Secure: %+v", tls)
	}
	if !console.VerifySession(ck.Value, token, time.Now()) || console.VerifySession(ck.Value, "other", time.Now()) {
		t.Fatal("VerifySession")
	}
	page := r.do(c, "GET", "/console/", nil)
	out := r.do(c, "POST", "/console/signout", url.Values{"csrf": {csrfOf(t, page.body)}})
	if out.code != http.StatusSeeOther || !strings.Contains(out.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("signout: %d %v", out.code, out.header)
	}
	replay := r.client()
	u, _ := url.Parse(r.url + "/console/")
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: console.CookieName, Value: ck.Value}})
	if a := r.do(replay, "GET", "/console/state", nil); a.code != http.StatusUnauthorized {
		t.Fatalf("a signed-out session still works: %d", a.code)
	}
}

// Without JavaScript the page shows the status and the QR code as an image and reloads itself
// while pairing; the image is the current QR code's PNG and its link changes with the code.
func TestConsoleWithoutJavaScript(t *testing.T) {
	r := newRig(t)
	c := r.client()
	r.login(c)
	a := r.do(c, "GET", "/console/", nil)
	if a.code != 200 || !strings.Contains(a.body, ">got qr code<") || !strings.Contains(a.body, `http-equiv="refresh"`) {
		t.Fatalf("page: %d\n%s", a.code, a.body)
	}
	src := regexp.MustCompile(`<img id="qr" src="([^"]+)"`).FindStringSubmatch(a.body)
	if src == nil {
		t.Fatalf("no QR image:\n%s", a.body)
	}
	png := r.do(c, "GET", "/console/"+strings.ReplaceAll(src[1], "&amp;", "&"), nil)
	if png.code != 200 || png.header.Get("Content-Type") != "image/png" || !strings.HasPrefix(png.body, "\x89PNG") {
		t.Fatalf("QR image: %d %v", png.code, png.header)
	}
	next := pairing
	next.QR = "2@second-qr-code,key,key,key"
	r.eng.set(next)
	b := r.do(c, "GET", "/console/", nil)
	if src2 := regexp.MustCompile(`<img id="qr" src="([^"]+)"`).FindStringSubmatch(b.body); src2 == nil || src2[1] == src[1] {
		t.Fatalf("the QR link did not change with the code: %v %v", src, src2)
	}
	for _, p := range []string{"/console/static/console.css", "/console/static/console.js"} {
		if s := r.do(c, "GET", p, nil); s.code != 200 || len(s.body) == 0 {
			t.Errorf("%s: %d", p, s.code)
		}
	}
}

// /console/state?wait= answers once the state changed (a long poll).
func TestConsoleStateLongPoll(t *testing.T) {
	r := newRig(t)
	c := r.client()
	r.login(c)
	var first struct{ Key, QR, AccountStatus string }
	if err := json.Unmarshal([]byte(r.do(c, "GET", "/console/state", nil).body), &first); err != nil || first.QR == "" {
		t.Fatalf("state: %v %+v", err, first)
	}
	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("GET", r.url+"/console/state?wait="+first.Key, nil)
		resp, err := c.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		done <- string(b)
	}()
	r.eng.set(account.Status{AccountStatus: account.StatusAuthenticated, Substatus: account.SubstatusConnected})
	var next struct{ Key, QR, AccountStatus string }
	if err := json.Unmarshal([]byte(<-done), &next); err != nil {
		t.Fatal(err)
	}
	if next.AccountStatus != account.StatusAuthenticated || next.Key == first.Key || next.QR != "" {
		t.Fatalf("after the change: %+v", next)
	}
}

// Reboot, logout and clear queue need the session's CSRF token and a same-site form, and ask
// before they act.
func TestConsoleActionsConfirmAndCSRF(t *testing.T) {
	r := newRig(t)
	c := r.client()
	r.login(c)
	page := r.do(c, "GET", "/console/", nil)
	csrf := csrfOf(t, page.body)
	for _, bad := range []struct {
		form url.Values
		hdr  []string
	}{
		{url.Values{"confirm": {"yes"}}, nil},
		{url.Values{"confirm": {"yes"}, "csrf": {"forged"}}, nil},
		{url.Values{"confirm": {"yes"}, "csrf": {csrf}}, []string{"Sec-Fetch-Site", "cross-site"}},
	} {
		if a := r.do(c, "POST", "/console/action/reboot", bad.form, bad.hdr...); a.code != http.StatusForbidden {
			t.Errorf("reboot with %v %v: %d", bad.form, bad.hdr, a.code)
		}
	}
	if r.eng.reboots.Load() != 0 {
		t.Fatal("rebooted without a valid CSRF token")
	}
	r.sendMessage("queued before the clear")
	if n := r.queueLength(); n != 1 {
		t.Fatalf("queue: %d", n)
	}
	for _, act := range []struct {
		name  string
		count func() int64
	}{
		{"reboot", r.eng.reboots.Load},
		{"logout", r.eng.logouts.Load},
		{"clear", func() int64 { return int64(1 - r.queueLength()) }},
	} {
		ask := r.do(c, "POST", "/console/action/"+act.name, url.Values{"csrf": {csrf}})
		if ask.code != 200 || !strings.Contains(ask.body, `name="confirm" value="yes"`) || act.count() != 0 {
			t.Fatalf("%s without confirm: %d %d\n%s", act.name, ask.code, act.count(), ask.body)
		}
		done := r.do(c, "POST", "/console/action/"+act.name, url.Values{"csrf": {csrfOf(t, ask.body)}, "confirm": {"yes"}})
		if done.code != 200 || act.count() != 1 {
			t.Fatalf("%s confirmed: %d %d\n%s", act.name, done.code, act.count(), done.body)
		}
	}
}

// sendMessage queues a text through the API.
func (r *rig) sendMessage(body string) {
	r.t.Helper()
	raw, _ := json.Marshal(map[string]string{"phone": "15550002222", "body": body})
	req, _ := http.NewRequest("POST", r.url+"/sendMessage", strings.NewReader(string(raw)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		r.t.Fatalf("sendMessage: %v %v", resp, err)
	}
	_ = resp.Body.Close()
}

// queueLength is totalMessages of GET /showMessagesQueue.
func (r *rig) queueLength() int {
	r.t.Helper()
	a := r.do(r.client(), "GET", "/showMessagesQueue", nil, "Authorization", "Bearer "+token)
	var q struct{ TotalMessages int }
	if err := json.Unmarshal([]byte(a.body), &q); err != nil {
		r.t.Fatalf("queue: %v %s", err, a.body)
	}
	return q.TotalMessages
}

// Once authenticated the page shows the phone, the queue with its items and the recent messages,
// everything escaped.
func TestConsoleAccountView(t *testing.T) {
	r := newRig(t)
	r.eng.set(account.Status{AccountStatus: account.StatusAuthenticated, Substatus: account.SubstatusConnected})
	r.sendMessage("queued <i>text</i>")
	if _, _, err := r.st.AppendMessage(context.Background(), chat.Message{ID: "false_15550002222@c.us_3EB0C0NS0LE",
		Body: `<script>alert("x")</script>`, Type: "chat", ChatID: "15550002222@c.us", Time: time.Now().Unix()}); err != nil {
		t.Fatal(err)
	}
	c := r.client()
	r.login(c)
	a := r.do(c, "GET", "/console/", nil)
	for _, want := range []string{">authenticated<", "+15550001111 (Console &lt;b&gt;Test&lt;/b&gt;)", "(1 waiting)",
		"queued &lt;i&gt;text&lt;/i&gt;", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"} {
		if !strings.Contains(a.body, want) {
			t.Errorf("the account view lacks %q", want)
		}
	}
	if strings.Contains(a.body, "<script>alert") || strings.Contains(a.body, `id="qr"`) || strings.Contains(a.body, "http-equiv") {
		t.Fatalf("account view:\n%s", a.body)
	}
}

// Under a path prefix (/instance<id>/, as the gateway routes chat-api.com URLs) every link stays
// under it: the redirect, the sign-in, the QR image.
func TestConsoleUnderPrefix(t *testing.T) {
	r := newRig(t)
	c := r.client()
	const p = "/instance12345"
	if a := r.do(c, "GET", p+"/console", nil); a.code != http.StatusSeeOther || a.header.Get("Location") != "console/" {
		t.Fatalf("redirect: %d %v", a.code, a.header)
	}
	page := r.do(c, "GET", p+"/console/", nil)
	if !strings.Contains(page.body, `action="./login"`) || strings.Contains(page.body, `="/`) {
		t.Fatalf("login page has absolute links:\n%s", page.body)
	}
	if a := r.do(c, "POST", p+"/console/login", url.Values{"token": {token}}); a.code != http.StatusSeeOther {
		t.Fatalf("login: %d", a.code)
	}
	page = r.do(c, "GET", p+"/console/", nil)
	src := regexp.MustCompile(`<img id="qr" src="([^"]+)"`).FindStringSubmatch(page.body)
	if src == nil || strings.Contains(page.body, `="/`) {
		t.Fatalf("page under the prefix:\n%s", page.body)
	}
	if png := r.do(c, "GET", p+"/console/"+strings.ReplaceAll(src[1], "&amp;", "&"), nil); png.code != 200 {
		t.Fatalf("QR image under the prefix: %d", png.code)
	}
}
