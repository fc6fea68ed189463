// Command gateway measures the figures of the front door for docs/benchmarks.md: requests/s and
// p50/p99 latency of GET /status through the gateway against direct to a real instance (e2e
// harness: real kube-apiserver, operator, instance process), and the gateway's heap with 1,000
// routes (1,000 MessengerInstances with token Secrets and API keys in envtest).
//
//	go build -o bin/messenger-operator . && go run ./hack/bench/gateway -binary bin/messenger-operator
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/gateway"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
	"github.com/messenger-operator/messenger-operator/test/e2e"
)

func main() {
	binary := flag.String("binary", "bin/messenger-operator", "messenger-operator binary the instance pod runs")
	workers := flag.Int("workers", 8, "concurrent clients")
	duration := flag.Duration("duration", 10*time.Second, "load time per target")
	routes := flag.Int("routes", 1000, "MessengerInstances for the memory figure")
	flag.Parse()
	ctx := context.Background()
	bin, err := filepath.Abs(*binary) // the node starts pods in their own folders
	if err != nil {
		log.Fatal(err)
	}
	if err := throughput(ctx, bin, *workers, *duration); err != nil {
		log.Fatal(err)
	}
	if err := memory(ctx, *routes); err != nil {
		log.Fatal(err)
	}
}

// throughput loads a real instance's GET /status directly and through an in-process gateway.
func throughput(ctx context.Context, binary string, workers int, d time.Duration) error {
	h, err := e2e.Start(ctx, e2e.Options{Binary: binary})
	if err != nil {
		return err
	}
	defer func() { _ = h.Stop() }()
	k := h.Client
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}); err != nil {
		return err
	}
	if err := k.Create(ctx, &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "demo"},
		Spec: v1alpha1.MessengerInstanceSpec{NetworkURL: h.Sandbox.URL(), InstanceID: "100"}}); err != nil {
		return err
	}
	var direct, token string
	if err := wait(func() error {
		addr, err := h.Node.ServiceAddress(ctx, "bench", "demo")
		if err != nil {
			return err
		}
		s := &corev1.Secret{}
		if err := k.Get(ctx, client.ObjectKey{Namespace: "bench", Name: "demo-token"}, s); err != nil {
			return err
		}
		direct, token = "http://"+addr+"/status", string(s.Data["token"])
		return get(http.DefaultClient, direct, token)
	}); err != nil {
		return err
	}
	g, err := gateway.New(h.Config, gateway.Options{DialContext: h.Node.DialContext})
	if err != nil {
		return err
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := g.Start(gctx); err != nil {
		return err
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	via := srv.URL + "/instance100/status"
	if err := wait(func() error { return get(http.DefaultClient, via, token) }); err != nil {
		return err
	}
	fmt.Printf("GOMAXPROCS %d, %d workers, %v per target, GET /status of a real instance\n", runtime.GOMAXPROCS(0), workers, d)
	a := load(direct, token, workers, d)
	b := load(via, token, workers, d)
	fmt.Printf("| target | requests | req/s | p50 | p99 |\n|---|---:|---:|---:|---:|\n")
	a.row("direct")
	b.row("gateway")
	fmt.Printf("ratio gateway/direct: req/s %.2f, p50 %.2f, p99 %.2f\n", b.rps/a.rps, ms(b.p50)/ms(a.p50), ms(b.p99)/ms(a.p99))
	return nil
}

type result struct {
	n        int
	rps      float64
	p50, p99 time.Duration
}

func (r result) row(name string) {
	fmt.Printf("| %s | %d | %.0f | %.2f ms | %.2f ms |\n", name, r.n, r.rps, ms(r.p50), ms(r.p99))

}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// load runs workers clients against url for d and returns the throughput and latency.
func load(url, token string, workers int, d time.Duration) result {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	var mu sync.Mutex
	var lat []time.Duration
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(end) {
				t0 := time.Now()
				if err := get(c, url, token); err != nil {
					log.Printf("%s: %v", url, err)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		return result{}
	}
	return result{n: len(lat), rps: float64(len(lat)) / d.Seconds(), p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
}

func get(c *http.Client, url, token string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func wait(f func() error) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// memory creates n MessengerInstances, each with a token Secret and an API key Secret, and reports
// the heap the gateway's informers hold once synced.
func memory(ctx context.Context, n int) error {
	env, err := testenv.Start(testenv.Options{NewScheme: controllers.NewScheme, Unthrottled: true})
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	k := env.Client
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fleet"}}); err != nil {
		return err
	}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var firstErr error
	var mu sync.Mutex
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			name := fmt.Sprintf("mi-%04d", i)
			objs := []client.Object{
				&v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name}, Spec: v1alpha1.MessengerInstanceSpec{InstanceID: fmt.Sprint(10000 + i)}},
				&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name + "-token"}, StringData: map[string]string{"token": fmt.Sprintf("token-%d-abcdefghijklmnopqrstuvwxyz012345", i)}},
				&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "fleet", Name: name + "-key", Labels: map[string]string{gateway.LabelAPIKeyFor: name}},
					StringData: map[string]string{"key": fmt.Sprintf("key-%d-abcdefghijklmnopqrstuvwxyz012345", i), "scopes": "send"}},
			}
			for _, o := range objs {
				if err := k.Create(ctx, o); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	before := heap()
	g, err := gateway.New(env.Config, gateway.Options{})
	if err != nil {
		return err
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := g.Start(gctx); err != nil {
		return err
	}
	after := heap()
	fmt.Printf("gateway with %d routes (%d MessengerInstances, %d Secrets): heap %.1f MiB after sync (process heap %.1f → %.1f MiB)\n",
		n, n, 2*n, float64(after-before)/(1<<20), float64(before)/(1<<20), float64(after)/(1<<20))
	runtime.KeepAlive(g)
	_ = os.Stdout.Sync()
	return nil
}

// heap is the live heap after a collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
