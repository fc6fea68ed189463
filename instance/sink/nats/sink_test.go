package nats_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/events"
	natssink "github.com/messenger-operator/messenger-operator/instance/sink/nats"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// natsServer is a real nats-server with JetStream, run in this process on a fixed store dir.
type natsServer struct {
	t    *testing.T
	dir  string
	port int
	opts func(*server.Options)
	srv  *server.Server
}

func startNATS(t *testing.T, mod func(*server.Options)) *natsServer {
	ns := &natsServer{t: t, dir: t.TempDir(), port: -1, opts: mod}
	ns.start()
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	o := &server.Options{Host: "127.0.0.1", Port: ns.port, JetStream: true, StoreDir: ns.dir, NoLog: true, NoSigs: true}
	if ns.opts != nil {
		ns.opts(o)
	}
	srv, err := server.NewServer(o)
	if err != nil {
		ns.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(20 * time.Second) {
		ns.t.Fatal("nats-server did not start")
	}
	ns.srv, ns.port = srv, srv.Addr().(*net.TCPAddr).Port
}

func (ns *natsServer) stop() {
	ns.srv.Shutdown()
	ns.srv.WaitForShutdown()
}

func (ns *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", ns.port) }

// runSink runs a sink on st until the test ends; published receives each cursor advance.
func runSink(t *testing.T, st *store.Store, cfg natssink.Config) (*natssink.Sink, <-chan int64) {
	t.Helper()
	startAtZero(t, st)
	published := make(chan int64, 1024)
	s, err := natssink.New(natssink.Options{Config: cfg, Store: st, Encoder: events.Encoder{InstanceID: "sales"},
		Namespace: "shop", Instance: "sales", Batch: 16, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Published: func(seq int64) { published <- seq }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Error(err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return s, published
}

// startAtZero gives the sink a cursor before any event, so it publishes all of them (a sink seen
// for the first time would start with the events committed after it started).
func startAtZero(t *testing.T, st *store.Store) {
	t.Helper()
	if _, ok, err := st.EventCursor(context.Background(), natssink.CursorName); err != nil || ok {
		return
	}
	if err := st.SetEventCursor(context.Background(), natssink.CursorName, 0); err != nil {
		t.Fatal(err)
	}
}

func appendMessages(t *testing.T, st *store.Store, from, n int) {
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("false_15550001111@c.us_3EB0%06d", i)
		if _, _, err := st.AppendMessage(context.Background(), chat.Message{ID: id, Body: "hi", Type: "chat"}); err != nil {
			t.Error(err)
			return
		}
	}
}

// waitCursor waits for the sink's cursor to reach seq.
func waitCursor(t *testing.T, published <-chan int64, seq int64) {
	t.Helper()
	for got := range published {
		if got >= seq {
			return
		}
	}
}

// streamEvents reads every message of the stream and returns their event ids in order.
func streamEvents(t *testing.T, url, stream string) []int64 {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		id, err := strconv.ParseInt(m.Header.Get(natssink.HeaderEventID), 10, 64)
		if err != nil || m.Header.Get(jetstream.MsgIDHeader) != "shop.sales."+strconv.FormatInt(id, 10) ||
			m.Subject != "messenger.shop.sales.message" {
			t.Fatalf("stream message %d: subject %s headers %v", seq, m.Subject, m.Header)
		}
		out = append(out, id)
	}
	return out
}

func checkExactlyOnce(t *testing.T, got []int64, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("stream holds %d events, want %d", len(got), n)
	}
	for i, id := range got {
		if id != int64(i+1) {
			t.Fatalf("stream event %d has id %d, want %d (every event once, in order)", i, id, i+1)
		}
	}
}

type backend struct {
	name string
	opts func(t *testing.T) store.Options
}

var backends = []backend{
	{"sqlite", func(t *testing.T) store.Options { return store.Options{DataDir: t.TempDir()} }},
	{"postgres", func(t *testing.T) store.Options {
		return store.Options{Database: testpg.Shared(t).NewDatabase(t)}
	}},
}

// TestRestartMidStreamEveryEventOnce publishes while nats-server is shut down and started again
// on the same store: every event ends up in the stream exactly once, in order.
func TestRestartMidStreamEveryEventOnce(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			st, err := store.Open(context.Background(), b.opts(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			ns := startNATS(t, nil)
			_, published := runSink(t, st, natssink.Config{URL: ns.url(), CreateStream: true})
			const total = 400
			var wg sync.WaitGroup
			wg.Go(func() { appendMessages(t, st, 1, total/2) })
			waitCursor(t, published, 50)
			ns.stop() // mid-stream: the writer goes on, the sink retries
			wg.Wait()
			wg.Go(func() { appendMessages(t, st, total/2+1, total/2) })
			ns.start()
			wg.Wait()
			waitCursor(t, published, total)
			checkExactlyOnce(t, streamEvents(t, ns.url(), natssink.DefaultStream), total)
		})
	}
}

// TestCursorBehindIsNotPublishedTwice sets the cursor back (a crash before it was recorded):
// the restarted sink sends nothing twice.
func TestCursorBehindIsNotPublishedTwice(t *testing.T) {
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ns := startNATS(t, nil)
	cfg := natssink.Config{URL: ns.url(), CreateStream: true}
	ctx, cancel := context.WithCancel(context.Background())
	startAtZero(t, st)
	published := make(chan int64, 1024)
	s, err := natssink.New(natssink.Options{Config: cfg, Store: st, Namespace: "shop", Instance: "sales",
		Published: func(seq int64) { published <- seq }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	appendMessages(t, st, 1, 30)
	waitCursor(t, published, 30)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := st.SetEventCursor(context.Background(), natssink.CursorName, 5); err != nil {
		t.Fatal(err)
	}
	_, published2 := runSink(t, st, cfg)
	appendMessages(t, st, 31, 10)
	waitCursor(t, published2, 40)
	checkExactlyOnce(t, streamEvents(t, ns.url(), natssink.DefaultStream), 40)
}

func TestUserPasswordAndMissingStream(t *testing.T) {
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ns := startNATS(t, func(o *server.Options) { o.Username, o.Password = "sink", "s3cret" })
	url := ns.url()
	// The stream does not exist and the sink may not create it: it waits, then publishes once an
	// operator creates it.
	_, published := runSink(t, st, natssink.Config{URL: url, User: "sink", Password: "s3cret"})
	appendMessages(t, st, 1, 5)
	nc, err := natsgo.Connect(url, natsgo.UserInfo("sink", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: natssink.DefaultStream,
		Subjects: []string{"messenger.>"}}); err != nil {
		t.Fatal(err)
	}
	waitCursor(t, published, 5)
	got := 0
	for _, id := range streamEventsAuth(t, js) {
		got++
		if id != int64(got) {
			t.Fatalf("event %d has id %d", got, id)
		}
	}
	if got != 5 {
		t.Fatalf("stream holds %d events, want 5", got)
	}
}

func streamEventsAuth(t *testing.T, js jetstream.JetStream) []int64 {
	st, err := js.Stream(t.Context(), natssink.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := strconv.ParseInt(m.Header.Get(natssink.HeaderEventID), 10, 64)
		out = append(out, id)
	}
	return out
}
