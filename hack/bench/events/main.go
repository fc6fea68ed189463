// Command events measures, in one run on one store, how many events per second leave an instance
// through each path: the webhook (dispatcher to a local receiver), GET /events (one SSE client)
// and the NATS JetStream sink (an in-process nats-server with JetStream on disk). Each path drains
// the same backlog of -n events from the durable store, one path at a time.
//
//	go run ./hack/bench/events -n 20000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/events"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	natssink "github.com/messenger-operator/messenger-operator/instance/sink/nats"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/instance/webhook"
)

func main() {
	n := flag.Int("n", 20000, "events in the backlog")
	flag.Parse()
	if err := run(*n); err != nil {
		log.Fatal(err)
	}
}

func run(n int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "bench-events")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	st, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	var received atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p chat.WebhookPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err == nil && received.Add(int64(len(p.Messages))) >= int64(n) {
			once.Do(func() { close(done) })
		}
	}))
	defer recv.Close()
	if err := st.SetWebhookURL(ctx, recv.URL); err != nil {
		return err
	}
	if err := fill(ctx, st, n); err != nil {
		return err
	}
	fmt.Printf("machine: %d CPUs, %s; backlog %d events (SQLite)\n", runtime.NumCPU(), runtime.GOARCH, n)
	hook, err := measureWebhook(ctx, st, done)
	if err != nil {
		return err
	}
	sse, err := measureSSE(ctx, st, n)
	if err != nil {
		return err
	}
	nats, err := measureNATS(ctx, st, dir, n)
	if err != nil {
		return err
	}
	rate := func(d time.Duration) float64 { return float64(n) / d.Seconds() }
	fmt.Printf("webhook: %8.0f events/s (%s)\n", rate(hook), hook.Round(time.Millisecond))
	fmt.Printf("SSE:     %8.0f events/s (%s), %.1f× the webhook\n", rate(sse), sse.Round(time.Millisecond), hook.Seconds()/sse.Seconds())
	fmt.Printf("NATS:    %8.0f events/s (%s), %.1f× the webhook\n", rate(nats), nats.Round(time.Millisecond), hook.Seconds()/nats.Seconds())
	return nil
}

// fill journals n incoming messages from 16 writers (group commit), each one event.
func fill(ctx context.Context, st *store.Store, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				m := chat.Message{ID: fmt.Sprintf("false_1555%07d@c.us_3EB0%08d", i%1000, i), Body: "hello there", Type: "chat"}
				if _, _, err := st.AppendMessage(ctx, m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func measureWebhook(ctx context.Context, st *store.Store, done <-chan struct{}) (time.Duration, error) {
	d, err := webhook.New(webhook.Options{Store: st, Client: fetch.Guard{AllowPrivate: true}.Client(30 * time.Second),
		InstanceID: "bench"})
	if err != nil {
		return 0, err
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	go d.Run(wctx)
	<-done
	return time.Since(start), nil
}

func measureSSE(ctx context.Context, st *store.Store, n int) (time.Duration, error) {
	stream, err := events.New(events.Options{Store: st, Encoder: events.Encoder{InstanceID: "bench"}})
	if err != nil {
		return 0, err
	}
	srv := httptest.NewServer(stream)
	defer srv.Close()
	defer stream.Close()
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"?after=0", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	r := bufio.NewReaderSize(resp.Body, 1<<16)
	for got := 0; got < n; {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("SSE after %d events: %w", got, err)
		}
		if strings.HasPrefix(line, "data: ") {
			got++
		}
	}
	return time.Since(start), nil
}

func measureNATS(ctx context.Context, st *store.Store, dir string, n int) (time.Duration, error) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir + "/nats",
		NoLog: true, NoSigs: true})
	if err != nil {
		return 0, err
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(20 * time.Second) {
		return 0, fmt.Errorf("nats-server did not start")
	}
	if err := st.SetEventCursor(ctx, natssink.CursorName, 0); err != nil {
		return 0, err
	}
	reached := make(chan struct{})
	var once sync.Once
	sink, err := natssink.New(natssink.Options{Config: natssink.Config{URL: ns.ClientURL(), CreateStream: true},
		Store: st, Encoder: events.Encoder{InstanceID: "bench"}, Instance: "bench",
		Published: func(seq int64) {
			if seq >= int64(n) {
				once.Do(func() { close(reached) })
			}
		}})
	if err != nil {
		return 0, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	go func() { _ = sink.Run(sctx) }()
	<-reached
	return time.Since(start), nil
}
