package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/instance/webhook"
)

// webhookThroughput delivers n journal events through the outbox dispatcher to a local receiver,
// then posts the very same bodies with a bare HTTP client, and returns both rates in events/s.
func webhookThroughput(opts store.Options, n int) (float64, float64) {
	ctx := context.Background()
	st, err := store.Open(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	var mu sync.Mutex
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
	}))
	defer rcv.Close()
	if err := st.SetWebhookURL(ctx, rcv.URL); err != nil {
		log.Fatal(err)
	}
	fillEvents(st, n)
	d, err := webhook.New(webhook.Options{Store: st, Client: fetch.Guard{AllowPrivate: true}.Client(10 * time.Second),
		InstanceID: "bench", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	for {
		wait, err := d.Step(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if wait > time.Hour {
			break
		}
		if wait > 0 {
			log.Fatalf("webhook delivery failed during the benchmark")
		}
	}
	outbox := float64(n) / time.Since(start).Seconds()
	mu.Lock()
	posted := bodies
	bodies = nil
	mu.Unlock()
	if delivered := countEvents(posted); delivered != n {
		log.Fatalf("webhook benchmark: %d events delivered, want %d", delivered, n)
	}
	c := &http.Client{}
	start = time.Now()
	for _, b := range posted {
		resp, err := c.Post(rcv.URL, "application/json", bytes.NewReader(b))
		if err != nil {
			log.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	return outbox, float64(n) / time.Since(start).Seconds()
}

func fillEvents(st *store.Store, n int) {
	var wg sync.WaitGroup
	per := n / 16
	for w := range 16 {
		wg.Go(func() {
			for i := w * per; i < (w+1)*per; i++ {
				m := chat.Message{ID: fmt.Sprintf("false_17472822486@c.us_3EB0%018d", i), Type: chat.TypeChat,
					Body: fmt.Sprint("message ", i), SenderName: "Bench", Author: "17472822486@c.us", Time: 1_700_000_000}
				if _, _, err := st.AppendMessage(context.Background(), m); err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	wg.Wait()
}

func countEvents(bodies [][]byte) int {
	n := 0
	for _, b := range bodies {
		var p chat.WebhookPayload
		if err := json.Unmarshal(b, &p); err != nil {
			log.Fatal(err)
		}
		n += len(p.Messages) + len(p.Ack)
	}
	return n
}
