package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/sandbox/sandboxclient"

	_ "modernc.org/sqlite"
)

// adminAPI calls a sandbox's admin REST API.
type adminAPI struct{ url string }

var adminHTTP = &http.Client{Timeout: 2 * time.Minute}

// call sends body as JSON and decodes the answer into out (when not nil).
func (a *adminAPI) call(ctx context.Context, method, path string, body, out any) error {
	return benchutil.CallJSON(ctx, adminHTTP, method, a.url+path, "", body, out)
}

func (a *adminAPI) addPhone(ctx context.Context, phone string) error {
	return a.call(ctx, "POST", "/sandbox/phones", map[string]string{"phone": phone, "name": "Bench " + phone}, nil)
}

// phoneMessageCount is how many messages a simulated phone has recorded.
func (a *adminAPI) phoneMessageCount(ctx context.Context, phone string) (int, error) {
	var out struct {
		Messages []json.RawMessage `json:"messages"`
	}
	err := a.call(ctx, "GET", "/sandbox/phones/"+phone+"/messages", nil, &out)
	return len(out.Messages), err
}

// client is a real whatsmeow client with its own in-memory SQLite store.
type client struct {
	cli       *whatsmeow.Client
	db        *sqlstore.Container
	paired    chan struct{}
	connected chan struct{}
	// received counts incoming (not from me) messages; target and done signal when it reaches target.
	received atomic.Int64
	target   atomic.Int64
	done     chan struct{}
}

var storeSeq atomic.Int64

// newClient creates an unpaired client configured for the sandbox at url.
func newClient(ctx context.Context, url string) (*client, error) {
	dsn := fmt.Sprintf("file:bench%d?mode=memory&cache=shared&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)", storeSeq.Add(1))
	db, err := sqlstore.New(ctx, "sqlite", dsn, waLog.Noop)
	if err != nil {
		return nil, fmt.Errorf("client store: %w", err)
	}
	dev, err := db.GetFirstDevice(ctx)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("client device: %w", err)
	}
	c := &client{db: db, paired: make(chan struct{}, 1), connected: make(chan struct{}, 1), done: make(chan struct{}, 1)}
	c.cli = whatsmeow.NewClient(dev, waLog.Noop)
	if err := sandboxclient.Configure(ctx, c.cli, url); err != nil {
		_ = db.Close()
		return nil, err
	}
	c.cli.AddEventHandler(c.onEvent)
	return c, nil
}

func (c *client) onEvent(evt any) {
	switch e := evt.(type) {
	case *events.PairSuccess:
		notify(c.paired)
	case *events.Connected:
		notify(c.connected)
	case *events.Message:
		if !e.Info.IsFromMe {
			if n := c.received.Add(1); n == c.target.Load() {
				notify(c.done)
			}
		}
	}
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// expect arms done to fire once the client has received n more messages than now.
func (c *client) expect(n int64) {
	select {
	case <-c.done:
	default:
	}
	c.target.Store(c.received.Load() + n)
	if c.received.Load() >= c.target.Load() {
		notify(c.done)
	}
}

func (c *client) close() {
	c.cli.Disconnect()
	_ = c.db.Close()
}

// pairTiming is one pairing: QR shown → PairSuccess → Connected.
type pairTiming struct {
	toPaired, toConnected time.Duration
}

// pair shows a QR code, has the phone scan it through the admin API and waits until the client
// is connected as a linked device.
func (c *client) pair(ctx context.Context, api *adminAPI, phone string) (pairTiming, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	qr, err := c.cli.GetQRChannel(context.Background()) // outlives ctx: cancelling it would disconnect
	if err != nil {
		return pairTiming{}, fmt.Errorf("qr channel: %w", err)
	}
	if err := c.cli.Connect(); err != nil {
		return pairTiming{}, fmt.Errorf("connect: %w", err)
	}
	var code string
	select {
	case item := <-qr:
		if item.Event != "code" {
			return pairTiming{}, fmt.Errorf("first QR item is %q", item.Event)
		}
		code = item.Code
	case <-ctx.Done():
		return pairTiming{}, errors.New("no QR code")
	}
	shown := time.Now()
	go func() { // the channel must keep draining while whatsmeow reports the outcome
		for range qr {
		}
	}()
	if err := api.call(ctx, "POST", "/sandbox/phones/"+phone+"/scan", map[string]string{"qr": code}, nil); err != nil {
		return pairTiming{}, err
	}
	var t pairTiming
	if err := wait(ctx, c.paired, "PairSuccess"); err != nil {
		return t, err
	}
	t.toPaired = time.Since(shown)
	if err := wait(ctx, c.connected, "Connected"); err != nil {
		return t, err
	}
	t.toConnected = time.Since(shown)
	return t, nil
}

func wait(ctx context.Context, ch chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
	}
}
