// Package sandbox_test drives unmodified whatsmeow clients against the sandbox network, the way
// the instance server and users' bots use it.
package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/messenger-operator/messenger-operator/sandbox"
	"github.com/messenger-operator/messenger-operator/sandbox/sandboxclient"

	_ "modernc.org/sqlite"
)

const waitFor = 20 * time.Second

// network is a sandbox under test, reached over its HTTP admin API like any user would.
type network struct {
	t   *testing.T
	url string
}

func startSandbox(t *testing.T) *network {
	t.Helper()
	srv, err := sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("starting sandbox: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &network{t: t, url: srv.URL()}
}

// call performs an admin request and decodes the JSON answer into out (when not nil).
func (n *network) call(method, path string, body any, out any) int {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, n.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			n.t.Fatalf("%s %s: decoding %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

func (n *network) mustCall(method, path string, body any, out any) {
	n.t.Helper()
	var raw json.RawMessage
	code := n.call(method, path, body, &raw)
	if code >= 300 {
		n.t.Fatalf("%s %s: status %d: %s", method, path, code, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			n.t.Fatalf("decoding %s: %v", raw, err)
		}
	}
}

func (n *network) addPhone(phone, name string) {
	n.t.Helper()
	n.mustCall("POST", "/sandbox/phones", map[string]string{"phone": phone, "name": name}, nil)
}

// phoneMessage mirrors sandbox.PhoneMessage as the admin API renders it.
type phoneMessage = sandbox.PhoneMessage

func (n *network) phoneMessages(phone string) []phoneMessage {
	n.t.Helper()
	var out struct{ Messages []phoneMessage }
	n.mustCall("GET", "/sandbox/phones/"+phone+"/messages", nil, &out)
	return out.Messages
}

// waitPhoneMessage waits until the phone's list holds a message matching ok.
func (n *network) waitPhoneMessage(phone string, ok func(phoneMessage) bool) phoneMessage {
	n.t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		for _, m := range n.phoneMessages(phone) {
			if ok(m) {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("phone %s never got the expected message; it has %+v", phone, n.phoneMessages(phone))
	return phoneMessage{}
}

// client is a real whatsmeow client with its own store and an event log.
type client struct {
	t      *testing.T
	cli    *whatsmeow.Client
	store  *sqlstore.Container
	mu     sync.Mutex
	events []any
	notify chan struct{}
}

var storeSeq struct {
	sync.Mutex
	n int
}

func newClient(t *testing.T, n *network) *client {
	t.Helper()
	storeSeq.Lock()
	storeSeq.n++
	name := fmt.Sprintf("file:client%d-%d?mode=memory&cache=shared&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)", storeSeq.n, time.Now().UnixNano())
	storeSeq.Unlock()
	container, err := sqlstore.New(context.Background(), "sqlite", name, waLog.Noop)
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	dev, err := container.GetFirstDevice(context.Background())
	if err != nil {
		t.Fatalf("device: %v", err)
	}
	c := &client{t: t, store: container, notify: make(chan struct{}, 1)}
	c.cli = whatsmeow.NewClient(dev, waLog.Noop)
	if err := configure(c, n); err != nil {
		t.Fatalf("configure: %v", err)
	}
	c.cli.AddEventHandler(c.record)
	t.Cleanup(func() {
		c.cli.Disconnect()
		_ = container.Close()
	})
	return c
}

// configure points the client at the network (its trust root and its address).
func configure(c *client, n *network) error {
	return sandboxclient.Configure(context.Background(), c.cli, n.url)
}

func (c *client) record(evt any) {
	c.mu.Lock()
	c.events = append(c.events, evt)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// waitEvent waits for an event for which match returns true and returns it.
func waitEvent[T any](c *client, match func(T) bool) T {
	c.t.Helper()
	return waitEventSince(c, 0, match)
}

// mark returns a position in the client's event log, for waitEventSince.
func (c *client) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// waitEventSince is waitEvent for the events after the position mark returned.
func waitEventSince[T any](c *client, from int, match func(T) bool) T {
	c.t.Helper()
	deadline := time.After(waitFor)
	seen := from
	for {
		c.mu.Lock()
		evts := c.events[seen:]
		seen = len(c.events)
		c.mu.Unlock()
		for _, e := range evts {
			if v, ok := e.(T); ok && (match == nil || match(v)) {
				return v
			}
		}
		select {
		case <-c.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			var zero T
			c.t.Fatalf("timed out waiting for %T; events: %v", zero, c.eventNames())
			return zero
		}
	}
}

func (c *client) eventNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for _, e := range c.events {
		names = append(names, fmt.Sprintf("%T", e))
	}
	return names
}

// pair shows a QR code, has the phone scan it, and waits until the client is connected.
func (c *client) pair(n *network, phone string) {
	c.t.Helper()
	qr, err := c.cli.GetQRChannel(context.Background())
	if err != nil {
		c.t.Fatalf("qr channel: %v", err)
	}
	if err := c.cli.Connect(); err != nil {
		c.t.Fatalf("connect: %v", err)
	}
	var code string
	select {
	case item := <-qr:
		if item.Event != "code" {
			c.t.Fatalf("first QR item is %q", item.Event)
		}
		code = item.Code
	case <-time.After(waitFor):
		c.t.Fatal("no QR code")
	}
	n.mustCall("POST", "/sandbox/phones/"+phone+"/scan", map[string]string{"qr": code}, nil)
	waitEvent[*events.PairSuccess](c, nil)
	waitEvent[*events.Connected](c, nil)
}

// aliceAndBob starts a sandbox with the phones of Alice and Bob and a client linked to each.
func aliceAndBob(t *testing.T) (*network, *client, *client) {
	t.Helper()
	n := startSandbox(t)
	n.addPhone("15550001111", "Alice")
	n.addPhone("15550002222", "Bob")
	alice, bob := newClient(t, n), newClient(t, n)
	alice.pair(n, "15550001111")
	bob.pair(n, "15550002222")
	return n, alice, bob
}
