package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// ServeHTTP serves GET /events: Server-Sent Events, or a WebSocket when the request asks for an
// upgrade. The client resumes after the Last-Event-ID header or the ?after= query parameter (0
// replays the whole log); with neither it gets only events committed from now on.
func (s *Stream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	after, err := s.resumePoint(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		s.serveWebSocket(w, r, after)
		return
	}
	s.serveSSE(w, r, after)
}

// resumePoint reads where the client resumes: Last-Event-ID wins over ?after= (a browser's
// EventSource sends the header on reconnect, keeping the URL it was opened with).
func (s *Stream) resumePoint(r *http.Request) (int64, error) {
	for _, v := range []struct{ name, value string }{
		{"Last-Event-ID", r.Header.Get("Last-Event-ID")}, {"after", r.URL.Query().Get("after")},
	} {
		if v.value == "" {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v.value), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s must be an event id (a non-negative integer), got %q", v.name, v.value)
		}
		return n, nil
	}
	return s.Last(r.Context())
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// sseWriter writes SSE frames, each flushed at once under a write deadline.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (sw sseWriter) frame(text string) error {
	_ = sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout))
	if _, err := sw.w.Write([]byte(text)); err != nil {
		return fmt.Errorf("writing to the event stream client: %w", err)
	}
	if err := sw.rc.Flush(); err != nil {
		return fmt.Errorf("flushing to the event stream client: %w", err)
	}
	return nil
}

func (s *Stream) serveSSE(w http.ResponseWriter, r *http.Request, after int64) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // a GET has no body: nothing more to read, ever
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies such as nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	sw := sseWriter{w: w, rc: rc, timeout: s.opts.WriteTimeout}
	if err := sw.frame(fmt.Sprintf("retry: 2000\n: connected after %d\n\n", after)); err != nil {
		return
	}
	err := s.Follow(r.Context(), after, Handlers{
		Event: func(it Item) error { return sw.frame(fmt.Sprintf("id: %d\ndata: %s\n\n", it.Seq, it.Data)) },
		Lost: func(l Lost) error {
			b, _ := json.Marshal(l)
			return sw.frame(fmt.Sprintf("event: lost\ndata: %s\n\n", b))
		},
		Idle: func() error { return sw.frame(": heartbeat\n\n") },
	})
	s.logEnd(r.Context(), "sse", err)
}

// logEnd logs why a stream ended unless the client went away or the server shut down.
func (s *Stream) logEnd(ctx context.Context, kind string, err error) {
	if err == nil || errors.Is(err, ErrClosed) || ctx.Err() != nil {
		return
	}
	s.opts.Logger.Info("event stream ended", "transport", kind, "error", err)
}

// wsMessage is one WebSocket text message: an event with its id, or a Lost notice.
type wsMessage struct {
	ID    int64           `json:"id,omitempty"`
	Event json.RawMessage `json:"event,omitempty"`
	Lost  *Lost           `json:"lost,omitempty"`
}

func (s *Stream) serveWebSocket(w http.ResponseWriter, r *http.Request, after int64) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept answered the client
	}
	defer func() { _ = c.CloseNow() }()
	ctx := c.CloseRead(r.Context()) // the client sends nothing; its close ends ctx
	write := func(m wsMessage) error {
		b, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encoding a WebSocket message: %w", err)
		}
		wctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
		defer cancel()
		return c.Write(wctx, websocket.MessageText, b)
	}
	err = s.Follow(ctx, after, Handlers{
		Event: func(it Item) error { return write(wsMessage{ID: it.Seq, Event: it.Data}) },
		Lost:  func(l Lost) error { return write(wsMessage{Lost: &l}) },
		Idle: func() error {
			pctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
			defer cancel()
			return c.Ping(pctx)
		},
	})
	if errors.Is(err, ErrClosed) {
		_ = c.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	s.logEnd(ctx, "websocket", err)
	_ = c.Close(websocket.StatusNormalClosure, "")
}
