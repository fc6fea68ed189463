package console_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/messenger-operator/messenger-operator/instance/app"
	"github.com/messenger-operator/messenger-operator/instance/qr"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// chromium finds Debian's chromium. Without it the browser test is skipped, except in CI
// (CI=true), where a missing browser is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install -y chromium); CI must run the browser test")
	}
	t.Skip("chromium is not installed: skipping the browser test (apt-get install -y chromium to run it)")
	return ""
}

// artifactDir is where the test keeps its screenshot: $ARTIFACTS, else testdata/artifacts (ignored
// by git).
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

// liveInstance is a real instance server (app.Run, whatsmeow engine) on an in-process sandbox.
type liveInstance struct {
	t          *testing.T
	url, sbURL string
}

// startLive starts a sandbox with the phones 15550001111 and 15550002222, a webhook receiver,
// and an instance server on the sandbox.
func startLive(t *testing.T) *liveInstance {
	t.Helper()
	sb, err := sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	li := &liveInstance{t: t, sbURL: sb.URL()}
	for _, p := range []string{"15550001111", "15550002222"} {
		li.post(sb.URL()+"/sandbox/phones", map[string]string{"phone": p}, http.StatusCreated)
	}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(hook.Close)
	ctx, cancel := context.WithCancel(context.Background())
	urls, done := make(chan string, 1), make(chan error, 1)
	cfg := app.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Token: token, NetworkURL: sb.URL(),
		WebhookURL: hook.URL, WebhookAllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		MaxFileBytes: 1 << 20, MediaRetention: time.Hour, WebhookMaxAge: 24 * time.Hour, ShutdownTimeout: 5 * time.Second}
	go func() { done <- app.Run(ctx, cfg, slog.New(slog.DiscardHandler), func(u string) { urls <- u }) }()
	select {
	case li.url = <-urls:
	case err := <-done:
		cancel()
		t.Fatalf("instance server: %v", err)
	}
	t.Cleanup(func() { cancel(); <-done })
	return li
}

// post sends JSON (with the token when the URL is the instance's) and checks the status.
func (li *liveInstance) post(url string, body any, want int) []byte {
	li.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if strings.HasPrefix(url, li.url) {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		li.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		li.t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// get reads an instance endpoint with the token.
func (li *liveInstance) get(path string) []byte {
	li.t.Helper()
	req, _ := http.NewRequest("GET", li.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		li.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		li.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// browser starts headless Chromium and returns a tab's context (no timeout: it is the browser's
// lifetime; the waits bound themselves).
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 1024), chromedp.DisableGPU)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	return ctx
}

// qrShown is a script: the QR image's src once it is loaded and visible, else false.
const qrShown = `(function(){var i=document.getElementById("qr");
return !!i && !i.hidden && i.complete && i.naturalWidth > 0 && i.src.indexOf("qr.png") >= 0 && i.src})()`

// wait is the bound of each wait for the page.
const wait = 90 * time.Second

// The console in a real browser: sign in with the token (which never shows in the URL), see the
// QR code, see it change when the code rotates, scan it with a sandbox phone and see the account
// authenticated with its phone, a sent picture's preview and its webhook delivery; a screenshot
// is kept.
func TestConsoleInChromium(t *testing.T) {
	bin := chromium(t)
	li := startLive(t)
	ctx := browser(t, bin)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(li.url+"/console"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("live")),
	); err != nil {
		t.Fatalf("signing in: %v", err)
	}
	first, err := chromedp.Run(ctx, chromedp.Poll[string](qrShown, chromedp.WithPollingTimeout(wait)))
	if err != nil {
		t.Fatalf("waiting for the QR code: %v", err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || strings.Contains(loc, token) || !strings.HasSuffix(loc, "/console/") {
		t.Fatalf("location after sign-in: %s %v", loc, err)
	}
	saveScreenshot(t, ctx, "console-qr.png")
	// A new pairing attempt shows a new code: the page swaps the image without a reload.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded = true`)); err != nil {
		t.Fatal(err)
	}
	li.post(li.url+"/reboot", nil, http.StatusOK)
	if _, err := chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(`(function(){var s=%s; return s && s !== %q && s})()`, qrShown, first),
		chromedp.WithPollingTimeout(wait))); err != nil {
		t.Fatalf("waiting for the QR image to change: %v", err)
	}
	if same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !same {
		t.Errorf("the page reloaded to show the new QR code (%v); the script should have swapped it", err)
	}
	// Scan what the page shows: its image is the PNG of the instance's current raw QR text.
	raw := string(li.get("/qr_code?format=raw"))
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.getElementById("qr").src).then(function(r){return r.arrayBuffer()}).then(function(b){
		var s="", a=new Uint8Array(b); for (var i=0;i<a.length;i++) s+=String.fromCharCode(a[i]); return btoa(s)})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := qr.PNG(raw); shown != base64.StdEncoding.EncodeToString(want) {
		t.Fatal("the QR image on the page is not the instance's current QR code")
	}
	li.post(li.sbURL+"/sandbox/phones/15550001111/scan", map[string]string{"qr": raw}, http.StatusOK)
	// The script reloads the page into the account view (maybe more than once: whatsmeow reconnects
	// right after pairing).
	phone := pollAcrossLoads(t, ctx, `(function(){var s=document.getElementById("status"), p=document.getElementById("phone");
		return !!s && s.textContent === "authenticated" && !document.getElementById("qr") && !!p && p.textContent})()`)
	if !strings.Contains(phone, "15550001111") {
		t.Fatalf("phone shown: %q", phone)
	}
	// A picture sent from the account shows as a preview (served with the session cookie), with
	// its webhook delivery and attempts.
	pic, _ := qr.PNG("a picture")
	li.post(li.url+"/sendFile", map[string]string{"phone": "15550002222", "filename": "pic.png", "caption": "a picture",
		"body": "data:image/png;base64," + base64.StdEncoding.EncodeToString(pic)}, http.StatusOK)
	reloadUntil(t, ctx, `(function(){var i=document.querySelector("img.thumb"), d=document.querySelector(".delivery");
		return !!i && i.complete && i.naturalWidth > 0 && !!d && d.textContent.indexOf("delivered") >= 0})()`)
	saveScreenshot(t, ctx, "console-authenticated.png")
}

// saveScreenshot keeps a full-page PNG screenshot in the artifact directory.
func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
}

// reloadUntil reloads the page until script is true (the account view is rendered by the server:
// new messages show on the next load), for at most wait.
func reloadUntil(t *testing.T, ctx context.Context, script string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("live")))
		if err == nil {
			_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](script, chromedp.WithPollingTimeout(3*time.Second)))
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never showed %s: %v", script, err)
		}
	}
}

// pollAcrossLoads waits (at most wait) for script to give a truthy string in the page, also when
// the page reloads meanwhile (a poll is cut by a navigation and starts again on the new page), and
// returns it.
func pollAcrossLoads(t *testing.T, ctx context.Context, script string) string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		v, err := chromedp.Run(ctx, chromedp.Poll[string](script, chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page never showed %s: %v", script, err)
		}
	}
}
