package events_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/events"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

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

// fixture is a real store behind a real HTTP server serving the stream.
type fixture struct {
	t      *testing.T
	st     *store.Store
	stream *events.Stream
	srv    *httptest.Server
	n      int
}

func each(t *testing.T, f func(t *testing.T, fx *fixture)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, newFixture(t, b.opts(t), nil)) })
	}
}

func newFixture(t *testing.T, opts store.Options, mod func(*events.Options)) *fixture {
	t.Helper()
	st, err := store.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	o := events.Options{Store: st, Encoder: events.Encoder{InstanceID: "sales"}}
	if mod != nil {
		mod(&o)
	}
	stream, err := events.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(stream)
	t.Cleanup(srv.Close)
	t.Cleanup(stream.Close) // before srv.Close (cleanups run last first): open streams end
	return &fixture{t: t, st: st, stream: stream, srv: srv}
}

// appendMessages journals n incoming messages (each one event) and returns their ids.
func (fx *fixture) appendMessages(n int) []string {
	fx.t.Helper()
	var ids []string
	for range n {
		fx.n++
		id := fmt.Sprintf("false_15550001111@c.us_3EB0%06d", fx.n)
		if _, _, err := fx.st.AppendMessage(context.Background(), chat.Message{ID: id, Body: "hi " + strconv.Itoa(fx.n),
			Type: "chat", Author: "15550001111@c.us"}); err != nil {
			fx.t.Error(err) // not Fatal: also called from a writer goroutine
			return ids
		}
		ids = append(ids, id)
	}
	return ids
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	id, event, data string
}

// sseClient reads an event stream.
type sseClient struct {
	resp     *http.Response
	r        *bufio.Reader
	comments []string
	cancel   context.CancelFunc
}

func (fx *fixture) connect(ctx context.Context, query string, header http.Header) *sseClient {
	fx.t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fx.srv.URL+"/events"+query, nil)
	if err != nil {
		fx.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fx.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		fx.t.Fatalf("GET /events%s: %d %s %s", query, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	c := &sseClient{resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	fx.t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() { c.cancel(); _ = c.resp.Body.Close() }

// next returns the next event, keeping the comments seen before it.
func (c *sseClient) next(t *testing.T) sseEvent {
	t.Helper()
	var e sseEvent
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if e.data != "" {
				return e
			}
		case strings.HasPrefix(line, ":"):
			c.comments = append(c.comments, strings.TrimSpace(line[1:]))
		case strings.HasPrefix(line, "id: "):
			e.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			e.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			e.data = line[6:]
		}
	}
}

// expectMessages reads events and checks they carry ids, in order, with consecutive event ids
// starting at firstSeq.
func (c *sseClient) expectMessages(t *testing.T, firstSeq int64, ids []string) {
	t.Helper()
	for i, want := range ids {
		e := c.next(t)
		if e.event != "" {
			t.Fatalf("event %d: type %q, want a payload (%s)", i, e.event, e.data)
		}
		if e.id != strconv.FormatInt(firstSeq+int64(i), 10) {
			t.Fatalf("event %d: id %s, want %d", i, e.id, firstSeq+int64(i))
		}
		var p chat.WebhookPayload
		if err := json.Unmarshal([]byte(e.data), &p); err != nil {
			t.Fatalf("event %s: %v (%s)", e.id, err, e.data)
		}
		if p.InstanceID != "sales" || len(p.Messages) != 1 || p.Messages[0].ID != want || p.Ack == nil {
			t.Fatalf("event %s: payload %s, want message %s of instance sales", e.id, e.data, want)
		}
	}
}

func TestReplayThenFollowLive(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		old := fx.appendMessages(5)
		c := fx.connect(t.Context(), "?after=0", nil)
		c.expectMessages(t, 1, old)
		live := fx.appendMessages(3)
		c.expectMessages(t, 6, live)
	})
}

func TestWithoutResumePointOnlyNewEvents(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		fx.appendMessages(2)
		c := fx.connect(t.Context(), "", nil)
		live := fx.appendMessages(1)
		c.expectMessages(t, 3, live)
	})
}

func TestLastEventIDWinsOverQuery(t *testing.T) {
	fx := newFixture(t, store.Options{DataDir: t.TempDir()}, nil)
	ids := fx.appendMessages(4)
	c := fx.connect(t.Context(), "?after=0", http.Header{"Last-Event-ID": {"2"}})
	c.expectMessages(t, 3, ids[2:])
}

// TestReconnectLosesNothing reads while a writer appends, drops the connection every few events
// and reconnects with Last-Event-ID: every event arrives exactly once, in order.
func TestReconnectLosesNothing(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		const total = 300
		var wg sync.WaitGroup
		var ids []string
		wg.Go(func() { ids = fx.appendMessages(total) })
		last, got := int64(0), 0
		for got < total {
			c := fx.connect(t.Context(), "", http.Header{"Last-Event-ID": {strconv.FormatInt(last, 10)}})
			for range min(37, total-got) {
				e := c.next(t)
				seq, err := strconv.ParseInt(e.id, 10, 64)
				if err != nil || seq != last+1 {
					t.Fatalf("after %d got event %q (%s)", last, e.id, e.data)
				}
				last, got = seq, got+1
			}
			c.close()
		}
		wg.Wait()
		c := fx.connect(t.Context(), "?after=0", nil)
		c.expectMessages(t, 1, ids)
	})
}

func TestStatusEvents(t *testing.T) {
	fx := newFixture(t, store.Options{DataDir: t.TempDir()}, nil)
	ctx := t.Context()
	if err := fx.st.AddStatusEvent(ctx, chat.StatusEvent{AccountStatus: "authenticated", Time: 1}); err != nil {
		t.Fatal(err)
	}
	c := fx.connect(ctx, "?after=0", nil)
	var p chat.WebhookPayload
	e := c.next(t)
	if err := json.Unmarshal([]byte(e.data), &p); err != nil || len(p.Status) != 1 || p.Status[0].AccountStatus != "authenticated" {
		t.Fatalf("status event: %s (%v)", e.data, err)
	}
}

func TestPrunedEventsAreReportedLost(t *testing.T) {
	each(t, func(t *testing.T, fx *fixture) {
		ids := fx.appendMessages(10)
		n, err := fx.st.PruneEvents(t.Context(), time.Now().Add(-time.Hour), 4)
		if err != nil || n != 6 {
			t.Fatalf("PruneEvents: %d, %v; want 6 removed", n, err)
		}
		c := fx.connect(t.Context(), "?after=2", nil)
		e := c.next(t)
		if e.event != "lost" || e.data != `{"after":2,"next":7}` {
			t.Fatalf("first event %+v, want lost after 2 next 7", e)
		}
		c.expectMessages(t, 7, ids[6:])
	})
}

func TestSinkCursorHoldsBackPruning(t *testing.T) {
	fx := newFixture(t, store.Options{DataDir: t.TempDir()}, nil)
	fx.appendMessages(10)
	ctx := t.Context()
	if err := fx.st.SetEventCursor(ctx, "nats", 3); err != nil {
		t.Fatal(err)
	}
	if n, err := fx.st.PruneEvents(ctx, time.Now().Add(time.Hour), 0); err != nil || n != 3 {
		t.Fatalf("PruneEvents with a cursor at 3: %d, %v; want 3 removed", n, err)
	}
	if err := fx.st.DropEventCursor(ctx, "nats"); err != nil {
		t.Fatal(err)
	}
	if n, err := fx.st.PruneEvents(ctx, time.Now().Add(time.Hour), 0); err != nil || n != 7 {
		t.Fatalf("PruneEvents without cursors: %d, %v; want 7 removed", n, err)
	}
}

func TestHeartbeatWhileIdle(t *testing.T) {
	fx := newFixture(t, store.Options{DataDir: t.TempDir()}, func(o *events.Options) { o.Heartbeat = 20 * time.Millisecond })
	c := fx.connect(t.Context(), "", nil)
	for !slicesContains(c.comments, "heartbeat") {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, ":") {
			c.comments = append(c.comments, strings.TrimSpace(line[1:]))
		}
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestCloseEndsOpenStreams(t *testing.T) {
	fx := newFixture(t, store.Options{DataDir: t.TempDir()}, nil)
	c := fx.connect(t.Context(), "", nil)
	fx.stream.Close()
	if _, err := io.ReadAll(c.r); err != nil {
		t.Fatalf("stream after Close: %v, want a clean end", err)
	}
}

func TestBadResumePoint(t *testing.T) {
	fx := newFixture(t, store.Options{DataDir: t.TempDir()}, nil)
	resp, err := http.Get(fx.srv.URL + "/events?after=x")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `"error"`) {
		t.Fatalf("after=x: %d %s, want 400 with an error", resp.StatusCode, b)
	}
}

func TestWebSocket(t *testing.T) {
	fx := newFixture(t, store.Options{DataDir: t.TempDir()}, nil)
	ids := fx.appendMessages(3)
	ctx := t.Context()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(fx.srv.URL, "http")+"/events?after=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	more := fx.appendMessages(1)
	for i, want := range append(ids[1:], more...) {
		_, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			ID    int64               `json:"id"`
			Event chat.WebhookPayload `json:"event"`
		}
		if err := json.Unmarshal(b, &m); err != nil || m.ID != int64(i+2) || len(m.Event.Messages) != 1 ||
			m.Event.Messages[0].ID != want {
			t.Fatalf("message %d: %s (%v), want id %d carrying %s", i, b, err, i+2, want)
		}
	}
}
