// Command webhook-receiver is a sample receiver of Messenger Operator webhooks: it verifies the
// Standard Webhooks signature, refuses stale or replayed deliveries, drops duplicates by
// webhook-id (retries reuse it) and logs each message and ack. Copy it as a starting point; it
// uses the standard library only.
//
//	WEBHOOK_SECRET=whsec_… go run ./examples/webhook-receiver -listen :9000
package main

import (
	"flag"
	"log/slog"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", ":9000", "address to listen on")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	secret := os.Getenv("WEBHOOK_SECRET")
	if secret == "" {
		log.Warn("WEBHOOK_SECRET is empty: accepting unsigned webhooks")
	}
	v, err := NewVerifier(secret)
	if err != nil {
		log.Error("bad WEBHOOK_SECRET", "error", err)
		os.Exit(1)
	}
	h := &Handler{Verifier: v, Log: log, Handle: func(p Payload) error {
		for _, m := range p.Messages {
			log.Info("message", "instance", p.InstanceID, "id", m.ID, "chatId", m.ChatID, "fromMe", m.FromMe, "type", m.Type, "number", m.MessageNumber)
		}
		for _, a := range p.Ack {
			log.Info("ack", "instance", p.InstanceID, "id", a.ID, "status", a.Status)
		}
		return nil
	}}
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Info("listening", "addr", *listen)
	if err := srv.ListenAndServe(); err != nil {
		log.Error("serving", "error", err)
		os.Exit(1)
	}
}
