package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/instance/qr"
	"github.com/messenger-operator/messenger-operator/test/e2e"
)

const (
	benchNS   = "bench"
	benchName = "qr"
	phoneA    = "15550001111"
	phoneB    = "15550002222"
)

type bench struct {
	h      *e2e.Harness
	binary string
	base   string // instance URL
	token  string
}

// setup creates the sandbox phones and one instance, and waits for its pod to serve.
func (b *bench) setup(ctx context.Context) error {
	for phone, name := range map[string]string{phoneA: "A", phoneB: "B"} {
		if err := b.sandbox("POST", "/sandbox/phones", map[string]string{"phone": phone, "name": name}, nil); err != nil {
			return err
		}
	}
	k := b.h.Client
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNS}}); err != nil {
		return err
	}
	mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: benchNS, Name: benchName},
		Spec: v1alpha1.MessengerInstanceSpec{NetworkURL: b.h.Sandbox.URL()}}
	if err := k.Create(ctx, mi); err != nil {
		return err
	}
	return poll(2*time.Minute, func() (bool, error) {
		addr, err := b.h.Node.ServiceAddress(ctx, benchNS, benchName)
		if err != nil {
			return false, nil
		}
		s := &corev1.Secret{}
		if err := k.Get(ctx, client.ObjectKey{Namespace: benchNS, Name: benchName + "-token"}, s); err != nil {
			return false, nil
		}
		b.base, b.token = "http://"+addr, string(s.Data["token"])
		st, err := b.status(ctx)
		return err == nil && st.AccountStatus == "got qr code", nil
	})
}

// qrLatency measures, for n QR changes, the time from the change being visible in the instance
// (GET /qr_code?format=raw polled every 2 ms) to the new QR in the MessengerInstance status (seen
// by a watch). Each new QR is made by POST /logout while pairing, which starts a new attempt.
func (b *bench) qrLatency(ctx context.Context, n int) error {
	seen, stop, err := b.watchQR(ctx)
	if err != nil {
		return err
	}
	defer stop()
	var lat []time.Duration
	prev := ""
	for len(lat) < n {
		text, changed, err := b.nextQR(prev)
		if err != nil {
			return err
		}
		uri, err := qr.DataURI(text)
		if err != nil {
			return err
		}
		var at time.Time
		if err := poll(30*time.Second, func() (bool, error) { at = seen(uri); return !at.IsZero(), nil }); err != nil {
			return fmt.Errorf("QR %d never reached the status: %w", len(lat), err)
		}
		lat = append(lat, max(at.Sub(changed), 0))
		prev = text
		if err := b.api("POST", "/logout", nil, nil); err != nil {
			return err
		}
	}
	slices.Sort(lat)
	fmt.Printf("QR change → CR status: n=%d p50=%s p99=%s max=%s\n", len(lat), pct(lat, 50), pct(lat, 99), lat[len(lat)-1])
	return nil
}

// nextQR polls the instance until its QR text differs from prev.
func (b *bench) nextQR(prev string) (string, time.Time, error) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		text, err := b.raw("/qr_code?format=raw")
		if err == nil && text != "" && text != prev {
			return text, time.Now(), nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return "", time.Time{}, fmt.Errorf("no new QR code within 60 s")
}

// watchQR records when each qrCode value first appears in the status.
func (b *bench) watchQR(ctx context.Context) (func(string) time.Time, func(), error) {
	wc, err := client.NewWithWatch(b.h.Config, client.Options{Scheme: b.h.Client.Scheme()})
	if err != nil {
		return nil, nil, err
	}
	w, err := wc.Watch(ctx, &v1alpha1.MessengerInstanceList{}, client.InNamespace(benchNS))
	if err != nil {
		return nil, nil, err
	}
	var mu sync.Mutex
	first := map[string]time.Time{}
	go func() {
		for ev := range w.ResultChan() {
			now := time.Now()
			mi, ok := ev.Object.(*v1alpha1.MessengerInstance)
			if !ok || ev.Type == watch.Deleted || mi.Name != benchName || mi.Status.QRCode == "" {
				continue
			}
			mu.Lock()
			if _, ok := first[mi.Status.QRCode]; !ok {
				first[mi.Status.QRCode] = now
			}
			mu.Unlock()
		}
	}()
	seen := func(uri string) time.Time {
		mu.Lock()
		defer mu.Unlock()
		return first[uri]
	}
	return seen, w.Stop, nil
}

// writes pairs the instance and counts the API server writes it causes per hour, idle and busy.
func (b *bench) writes(ctx context.Context, window time.Duration, rate int) error {
	text, _, err := b.nextQR("")
	if err != nil {
		return err
	}
	if err := b.sandbox("POST", "/sandbox/phones/"+phoneA+"/scan", map[string]string{"qr": text}, nil); err != nil {
		return err
	}
	if err := poll(time.Minute, func() (bool, error) {
		st, err := b.status(ctx)
		return err == nil && st.AccountStatus == "authenticated" && st.QueueLength == 0, nil
	}); err != nil {
		return fmt.Errorf("pairing: %w", err)
	}
	time.Sleep(5 * time.Second) // let the writes of pairing settle
	idle, err := b.countWrites(ctx, window, nil)
	if err != nil {
		return err
	}
	busy, err := b.countWrites(ctx, window, func(stop <-chan struct{}) { b.traffic(stop, rate) })
	if err != nil {
		return err
	}
	per := func(n float64) float64 { return n * float64(time.Hour) / float64(window) }
	fmt.Printf("writes per instance per hour, idle: MessengerInstance %.0f, Lease %.0f (window %s: %.0f and %.0f)\n",
		per(idle[0]), per(idle[1]), window, idle[0], idle[1])
	fmt.Printf("writes per instance per hour, busy (%d msg/s each way): MessengerInstance %.0f, Lease %.0f (window %s: %.0f and %.0f)\n",
		rate, per(busy[0]), per(busy[1]), window, busy[0], busy[1])
	return nil
}

// countWrites returns how many times the instance's MessengerInstance and its Lease were written
// during window (MODIFIED watch events: each is a write that reached etcd; no-op applies are not
// writes), with load running meanwhile.
func (b *bench) countWrites(ctx context.Context, window time.Duration, load func(<-chan struct{})) ([2]float64, error) {
	wc, err := client.NewWithWatch(b.h.Config, client.Options{Scheme: b.h.Client.Scheme()})
	if err != nil {
		return [2]float64{}, err
	}
	var out [2]float64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, list := range []client.ObjectList{&v1alpha1.MessengerInstanceList{}, &coordinationv1.LeaseList{}} {
		w, err := wc.Watch(ctx, list, client.InNamespace(benchNS))
		if err != nil {
			return out, err
		}
		defer w.Stop()
		wg.Go(func() {
			for ev := range w.ResultChan() {
				if o, ok := ev.Object.(client.Object); ok && ev.Type == watch.Modified &&
					(o.GetName() == benchName || o.GetName() == benchName+"-lease") {
					mu.Lock()
					out[i]++
					mu.Unlock()
				}
			}
		})
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if load != nil {
			load(stop)
		}
	}()
	time.Sleep(window)
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	return out, nil
}

// traffic sends rate messages per second from the instance to B and from B to the instance.
func (b *bench) traffic(stop <-chan struct{}, rate int) {
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		body := fmt.Sprintf("busy %d", i)
		_ = b.api("POST", "/sendMessage", map[string]string{"phone": phoneB, "body": body}, nil)
		_ = b.sandbox("POST", "/sandbox/phones/"+phoneB+"/messages", map[string]string{"to": phoneA, "body": body}, nil)
	}
}

// status reads the benchmark instance's status.
func (b *bench) status(ctx context.Context) (v1alpha1.MessengerInstanceStatus, error) {
	mi := &v1alpha1.MessengerInstance{}
	err := b.h.Client.Get(ctx, client.ObjectKey{Namespace: benchNS, Name: benchName}, mi)
	return mi.Status, err
}

func (b *bench) api(method, path string, body, out any) error {
	return call(method, b.base+path, b.token, body, out)
}

func (b *bench) raw(path string) (string, error) {
	req, _ := http.NewRequest("GET", b.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %d", path, resp.StatusCode)
	}
	return string(data), nil
}

func (b *bench) sandbox(method, path string, body, out any) error {
	return call(method, b.h.Sandbox.URL()+path, "", body, out)
}

// call sends a JSON request and decodes a 2xx JSON answer into out.
func call(method, url, token string, body, out any) error {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// poll calls check until it reports done, an error, or timeout.
func poll(timeout time.Duration, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		done, err := check()
		if err != nil || done {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %s", timeout)
}

// pct is the p-th percentile of sorted durations.
func pct(d []time.Duration, p int) time.Duration {
	return d[min(len(d)-1, (len(d)*p+99)/100-1)]
}

// memTotal is the machine's memory from /proc/meminfo.
func memTotal() string {
	kib, err := benchutil.MemTotalKiB()
	if err != nil {
		return "memory unknown"
	}
	return fmt.Sprintf("%.1f GiB RAM", float64(kib)/(1<<20))
}
