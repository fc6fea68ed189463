// Command console measures the web console's figures for docs/benchmarks.md: the page weight of
// the first load while pairing (HTML, CSS, script and QR image, as Chromium's Resource Timing
// reports them) and the time to first QR (navigation start to the QR image received), p50/p99
// over N loads in headless Chromium, against the same two requests made by a plain Go HTTP client
// in the same run. The instance server (app.Run, whatsmeow engine) and the sandbox run in-process.
//
//	go run ./hack/bench/console -loads 50
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/instance/app"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

const token = "bench-console-token"

func main() {
	loads := flag.Int("loads", 50, "page loads measured")
	flag.Parse()
	if err := run(*loads); err != nil {
		log.Fatal(err)
	}
}

func run(loads int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, stop, err := startInstance(ctx)
	if err != nil {
		return err
	}
	defer stop()
	if err := waitQR(ctx, base); err != nil {
		return err
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		return fmt.Errorf("chromium: %w (apt-get install -y chromium)", err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 1024))...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(actx)
	defer cancelTab()
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("live"))); err != nil {
		return fmt.Errorf("signing in: %w", err)
	}
	var qrTimes, loadTimes []time.Duration
	var first load
	for i := 0; i < loads; i++ {
		l, err := measure(tab, base)
		if err != nil {
			return fmt.Errorf("load %d: %w", i, err)
		}
		if i == 0 {
			first = l
		}
		qrTimes, loadTimes = append(qrTimes, l.qr), append(loadTimes, l.loaded)
	}
	plain, err := plainHTTP(ctx, base, loads)
	if err != nil {
		return err
	}
	fmt.Printf("machine: %s/%s, %d CPUs, load %s; %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(),
		benchutil.LoadAvg(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Printf("page weight of the first load (bodies / on the wire with headers):\n")
	total, wire := 0, 0
	for _, r := range first.resources {
		fmt.Printf("  %-28s %6d B / %6d B\n", r.Name, r.Body, r.Wire)
		total, wire = total+r.Body, wire+r.Wire
	}
	fmt.Printf("  %-28s %6d B / %6d B\n", "total", total, wire)
	fmt.Printf("time to first QR over %d loads (navigation start → QR image received): p50 %s p99 %s\n",
		loads, pct(qrTimes, 50), pct(qrTimes, 99))
	fmt.Printf("load event over %d loads: p50 %s p99 %s\n", loads, pct(loadTimes, 50), pct(loadTimes, 99))
	fmt.Printf("plain Go client, GET /console/ then qr.png, same run: p50 %s p99 %s (browser/plain p50 ratio %.1f)\n",
		pct(plain, 50), pct(plain, 99), float64(pct(qrTimes, 50))/float64(pct(plain, 50)))
	return nil
}

// resource is one response of a load, from Resource Timing.
type resource struct {
	Name string `json:"name"`
	Body int    `json:"body"`
	Wire int    `json:"wire"`
}

type load struct {
	qr, loaded time.Duration
	resources  []resource
}

// timings reads the navigation's and its resources' timing once the load event ended.
const timings = `(function(){
  var nav = performance.getEntriesByType("navigation")[0];
  var out = {qr: 0, loaded: nav.loadEventEnd, res: [{name: "page (HTML)", body: nav.encodedBodySize, wire: nav.transferSize}]};
  performance.getEntriesByType("resource").forEach(function(r){
    var name = r.name.replace(/^.*\/console\//, "").replace(/\?.*$/, "");
    if (name === "state") { return; }
    out.res.push({name: name, body: r.encodedBodySize, wire: r.transferSize});
    if (name === "qr.png") { out.qr = r.responseEnd; }
  });
  return out.qr > 0 && nav.loadEventEnd > 0 && out;
})()`

// measure loads the console page once and reads its timings.
func measure(tab context.Context, base string) (load, error) {
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/console/")); err != nil {
		return load{}, err
	}
	type result struct {
		QR     float64    `json:"qr"`
		Loaded float64    `json:"loaded"`
		Res    []resource `json:"res"`
	}
	r, err := chromedp.Run(tab, chromedp.Poll[result](timings, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		return load{}, err
	}
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return load{qr: ms(r.QR), loaded: ms(r.Loaded), resources: r.Res}, nil
}

// plainHTTP times GET /console/ and then its QR image with a Go client holding a session cookie.
func plainHTTP(ctx context.Context, base string, n int) ([]time.Duration, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/console/login", url.Values{"token": {token}})
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	get := func(u string) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("GET %s: %d", u, resp.StatusCode)
		}
		return string(b), err
	}
	var out []time.Duration
	for range n {
		start := time.Now()
		page, err := get(base + "/console/")
		if err != nil {
			return nil, err
		}
		_, rest, ok := strings.Cut(page, `<img id="qr" src="`)
		if !ok {
			return nil, fmt.Errorf("no QR image on the page")
		}
		src, _, _ := strings.Cut(rest, `"`)
		if _, err := get(base + "/console/" + strings.ReplaceAll(src, "&amp;", "&")); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// startInstance runs a sandbox and an instance server on it in this process.
func startInstance(ctx context.Context) (string, func(), error) {
	sb, err := sandbox.Start(ctx, sandbox.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "bench-console-")
	if err != nil {
		return "", nil, err
	}
	ictx, cancel := context.WithCancel(ctx)
	urls, done := make(chan string, 1), make(chan error, 1)
	cfg := app.Config{Listen: "127.0.0.1:0", DataDir: dir, Token: token, NetworkURL: sb.URL(), MaxFileBytes: 1 << 20,
		MediaRetention: time.Hour, WebhookMaxAge: 24 * time.Hour, ShutdownTimeout: 5 * time.Second}
	go func() { done <- app.Run(ictx, cfg, slog.New(slog.DiscardHandler), func(u string) { urls <- u }) }()
	stop := func() { cancel(); <-done; _ = sb.Close(); _ = os.RemoveAll(dir) }
	select {
	case u := <-urls:
		return u, stop, nil
	case err := <-done:
		cancel()
		_ = sb.Close()
		return "", nil, fmt.Errorf("instance server: %w", err)
	}
}

// waitQR waits until the instance shows a QR code.
func waitQR(ctx context.Context, base string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var st struct {
			AccountStatus string `json:"accountStatus"`
		}
		if err := benchutil.CallJSON(ctx, http.DefaultClient, "GET", base+"/status", token, nil, &st); err == nil && st.AccountStatus == "got qr code" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no QR code within a minute")
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))].Round(100 * time.Microsecond)
}
