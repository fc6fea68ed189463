// Command instance measures the instance server's durable queue and journal (docs/benchmarks.md,
// section "Instance server"):
//
//   - POST /sendMessage accepted per second (durably committed before the answer) with 32
//     concurrent HTTP clients, p50/p99 latency, with group commit and with one transaction per
//     request, against a raw one-insert-per-transaction loop on the same database and durability;
//   - webhook events per second to a local receiver, against a bare HTTP client posting the same
//     bodies;
//   - GET /messages?lastMessageNumber= latency with 10,000 and 1,000,000 stored messages.
//
// It runs on SQLite (synchronous=FULL, WAL) in a temporary directory and on a throw-away
// PostgreSQL cluster (internal/testpg), all on loopback.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		if err := benchutil.ServeSandbox(); err != nil {
			log.Fatal(err)
		}
		return
	}
	var d densityOptions
	flag.IntVar(&d.n, "density", 0, "instead of the store figures: run this many idle paired instance processes and report their memory")
	flag.IntVar(&d.parallel, "density-parallel", 6, "density: instances started and paired at a time")
	flag.StringVar(&d.binary, "binary", "bin/messenger-operator", "density: the messenger-operator binary")
	flag.StringVar(&d.env, "env", "", "density: extra environment of every instance, K=V,K=V")
	flag.StringVar(&d.smapsDump, "smaps-dump", "", "density: copy the first instance's /proc/PID/smaps to this file before measuring")
	flag.DurationVar(&d.settle, "settle", 30*time.Second, "density: idle time after the last pairing before measuring")
	backends := flag.String("backends", "sqlite,postgres", "comma-separated: sqlite, postgres")
	requests := flag.Int("requests", 20000, "sendMessage requests per run")
	clients := flag.Int("clients", 32, "concurrent HTTP clients")
	messages := flag.Int("messages", 1_000_000, "journal size for the large GET /messages run")
	parts := flag.String("parts", "send,webhook,messages", "comma-separated: send, webhook, messages")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if d.n > 0 {
		if err := runDensity(d); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	for _, p := range strings.Split(*parts, ",") {
		run[p] = true
	}
	var pg *testpg.Server
	for _, b := range strings.Split(*backends, ",") {
		var dsn func(name string) string
		switch b {
		case "sqlite":
		case "postgres":
			if pg == nil {
				var err error
				if pg, err = testpg.Start(); err != nil {
					log.Fatalf("starting PostgreSQL: %v", err)
				}
				defer pg.Stop()
			}
			dsn = func(name string) string { return createDB(pg, name) }
		default:
			log.Fatalf("unknown backend %q", b)
		}
		runBackend(b, dsn, *requests, *clients, *messages)
	}
}

// createDB makes a fresh database on the benchmark's PostgreSQL server.
func createDB(pg *testpg.Server, name string) string {
	db, err := openAdmin(pg)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		log.Fatalf("creating database: %v", err)
	}
	return pg.DSN(name)
}

func storeOptions(backend string, dsn func(string) string, name string, maxBatch int) store.Options {
	if backend == "postgres" {
		return store.Options{Database: dsn(name), MaxBatch: maxBatch}
	}
	dir, err := os.MkdirTemp("", "bench-instance-")
	if err != nil {
		log.Fatal(err)
	}
	return store.Options{DataDir: dir, MaxBatch: maxBatch}
}

// run holds the parts of the benchmark to run.
var run = map[string]bool{}

func runBackend(backend string, dsn func(string) string, requests, clients, messages int) {
	if run["send"] {
		runSend(backend, dsn, requests, clients)
	}
	if run["webhook"] {
		hook, bare := webhookThroughput(storeOptions(backend, dsn, "bench_webhook", 0), 16000)
		fmt.Printf("%s webhook events to a local receiver (batches of 100, signed): %.0f events/s; bare HTTP client posting the same bodies: %.0f events/s; ratio %.2f\n",
			backend, hook, bare, hook/bare)
	}
	if run["messages"] {
		runMessages(backend, dsn, messages)
	}
}

func runSend(backend string, dsn func(string) string, requests, clients int) {
	ctx := context.Background()
	raw := rawInsertLoop(storeOptions(backend, dsn, "bench_raw", 1), requests/4)
	fmt.Printf("%s raw insert loop (1 row per transaction, 1 writer): %.0f inserts/s\n", backend, raw)
	for _, mode := range []struct {
		name     string
		maxBatch int
	}{{"group commit", 0}, {"one transaction per request", 1}} {
		opts := storeOptions(backend, dsn, "bench_"+strings.ReplaceAll(mode.name, " ", "_"), mode.maxBatch)
		st, err := store.Open(ctx, opts)
		if err != nil {
			log.Fatal(err)
		}
		url, stop := serve(st)
		rate, p50, p99 := sendLoad(url, requests, clients)
		commits, reqs := st.Stats()
		fmt.Printf("%s POST /sendMessage, %s, %d clients: %.0f accepted/s, p50 %s, p99 %s, %.1f requests per commit, ratio to raw loop %.2f\n",
			backend, mode.name, clients, rate, p50, p99, float64(reqs)/float64(max(commits, 1)), rate/raw)
		stop()
		_ = st.Close()
	}
}

func runMessages(backend string, dsn func(string) string, messages int) {
	ctx := context.Background()
	for _, size := range []int{10_000, messages} {
		st, err := store.Open(ctx, storeOptions(backend, dsn, fmt.Sprintf("bench_msgs_%d", size), 0))
		if err != nil {
			log.Fatal(err)
		}
		start := time.Now()
		if err := fillJournal(st, size); err != nil {
			log.Fatal(err)
		}
		fill := time.Since(start)
		url, stop := serve(st)
		p50, p99 := messagesLatency(url, size, 2000)
		fmt.Printf("%s GET /messages?lastMessageNumber=<random> (100 per page) with %d messages: p50 %s, p99 %s (fill %s)\n",
			backend, size, p50, p99, fill.Round(time.Second))
		stop()
		_ = st.Close()
	}
}

// serve runs the API on a loopback port.
func serve(st *store.Store) (string, func()) {
	dir, _ := os.MkdirTemp("", "bench-media-")
	md, err := media.Open(dir, "t")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := api.New(api.Options{Store: st, Engine: account.NoEngine{}, Media: md, Token: "t",
		Fetcher: fetch.NewFetcher(fetch.Guard{}, 1<<20)})
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler()}
	go func() { _ = hs.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = hs.Close(); _ = os.RemoveAll(dir) }
}

func client(clients int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
}

// sendLoad posts requests sendMessage calls from clients goroutines; returns rate and latencies.
func sendLoad(url string, requests, clients int) (float64, time.Duration, time.Duration) {
	c := client(clients)
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(requests) {
				t0 := time.Now()
				body := fmt.Sprintf(`{"phone":"17472822486","body":"bench %d"}`, w)
				resp, err := c.Post(url+"/sendMessage?token=t", "application/json", strings.NewReader(body))
				if err != nil {
					log.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					log.Fatalf("sendMessage: HTTP %d", resp.StatusCode)
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	p50, p99 := percentiles(all)
	return float64(len(all)) / elapsed.Seconds(), p50, p99
}

func percentiles(d []time.Duration) (time.Duration, time.Duration) {
	slices.Sort(d)
	return d[len(d)/2].Round(time.Microsecond), d[len(d)*99/100].Round(time.Microsecond)
}

// messagesLatency pages from random positions, one request at a time.
func messagesLatency(url string, size, n int) (time.Duration, time.Duration) {
	c := client(1)
	lat := make([]time.Duration, 0, n)
	for range n {
		after := rand.IntN(size - 100)
		t0 := time.Now()
		resp, err := c.Get(fmt.Sprintf("%s/messages?token=t&lastMessageNumber=%d", url, after))
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		lat = append(lat, time.Since(t0))
		if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf(`"lastMessageNumber":%d`, after+100)) {
			log.Fatalf("GET /messages: HTTP %d", resp.StatusCode)
		}
	}
	return percentiles(lat)
}
