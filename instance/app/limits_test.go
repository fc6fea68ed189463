package app

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// Clients holding connections open (slow bodies, idle sockets) take at most MaxConnections of
// the server; a further client is served once one of them lets go, not before.
func TestConnectionCap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	}), Config{MaxConnections: 2})
	srv.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	go func() { _ = srv.Serve(limitListener(ln, Config{MaxConnections: 2})) }()
	t.Cleanup(func() { _ = srv.Close() })

	// Two clients that connect and send nothing hold both slots.
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		held = append(held, c)
	}
	deadline := time.Now().Add(10 * time.Second)
	for accepted.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the server accepted %d of the 2 held connections", accepted.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A third client is connected by the kernel but not served while the slots are held.
	third, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = third.Close() }()
	if _, err := fmt.Fprint(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	answered := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(third), nil)
		if err != nil {
			answered <- err.Error()
			return
		}
		_ = resp.Body.Close()
		answered <- resp.Status
	}()
	select {
	case got := <-answered:
		t.Fatalf("the third client was answered (%s) while the cap was held", got)
	case <-time.After(300 * time.Millisecond):
	}
	if n := accepted.Load(); n != 2 {
		t.Fatalf("accepted %d connections with a cap of 2", n)
	}

	// One held client goes away: the third is served.
	_ = held[0].Close()
	select {
	case got := <-answered:
		if got != "200 OK" {
			t.Fatalf("the third client got %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the third client was not served after a slot was freed")
	}
}
