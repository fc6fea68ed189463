// Package events serves the webhook payloads as a live stream: GET /events as Server-Sent Events
// (or a WebSocket), one event per payload, its id the outbox sequence number, resumable with
// Last-Event-ID from the store's event log. Each client reads the log at its own pace, woken by
// the store when events are committed: a slow client costs no memory here, it just reads older
// rows. Retention prunes the log by age and count, never past a sink's cursor.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// Defaults of Options.
const (
	DefaultHeartbeat      = 15 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
	DefaultRetention      = 24 * time.Hour
	DefaultRetentionCount = 100_000
	// readBatch is how many events one read of the log returns.
	readBatch = 256
	// pruneEvery is how often Run prunes the log.
	pruneEvery = time.Minute
)

// ErrClosed ends the streams of a Stream that was closed (the server shuts down).
var ErrClosed = errors.New("event stream closed")

// Options configure a Stream.
type Options struct {
	Store *store.Store
	// Encoder turns events into the webhook's JSON (instanceId, absolute media links).
	Encoder Encoder
	// Heartbeat is the longest silence on a stream: a comment (SSE) or a ping (WebSocket) is sent
	// after it. WriteTimeout cuts off a client that takes longer to take one write.
	Heartbeat    time.Duration
	WriteTimeout time.Duration
	// Retention and RetentionCount bound the log: events older than Retention, or beyond the newest
	// RetentionCount, are pruned (unless a sink has not handled them yet).
	Retention      time.Duration
	RetentionCount int64
	Logger         *slog.Logger
}

// Encoder makes the JSON of an event: the webhook payload carrying that event alone.
type Encoder struct {
	// InstanceID fills the payload's instanceId.
	InstanceID string
	// Rewrite, if set, adjusts each message (e.g. media links), as the webhook does.
	Rewrite func(*chat.Message)
}

// Encode returns the payload JSON of e.
func (en Encoder) Encode(e store.Event) ([]byte, error) {
	p := e.Payload
	p.InstanceID = en.InstanceID
	if en.Rewrite != nil {
		for i := range p.Messages {
			en.Rewrite(&p.Messages[i])
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding event %d: %w", e.Seq, err)
	}
	return b, nil
}

// Stream serves the event log to its clients. It is safe for concurrent use.
type Stream struct {
	opts      Options
	closing   chan struct{}
	closeOnce sync.Once
}

// New returns a stream over opts.Store.
func New(opts Options) (*Stream, error) {
	if opts.Store == nil {
		return nil, errors.New("events: a store is required")
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.RetentionCount <= 0 {
		opts.RetentionCount = DefaultRetentionCount
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Stream{opts: opts, closing: make(chan struct{})}, nil
}

// Close ends every stream being served (their Follow returns ErrClosed); call it when the HTTP
// server shuts down, whose graceful shutdown would otherwise wait for them forever.
func (s *Stream) Close() { s.closeOnce.Do(func() { close(s.closing) }) }

// Item is one event ready to send.
type Item struct {
	// Seq is the event id (the outbox sequence number).
	Seq int64
	// Kind is message, ack, chatUpdate or status.
	Kind string
	// Data is the payload JSON.
	Data []byte
}

// Lost tells a client that events after After and before Next cannot be replayed any more
// (pruned, or a Last-Event-ID from another database); the stream goes on with Next.
type Lost struct {
	After int64 `json:"after"`
	Next  int64 `json:"next"`
}

// Handlers receive what Follow produces.
type Handlers struct {
	// Event is called for each event in order.
	Event func(Item) error
	// Lost, if set, is called where events are missing.
	Lost func(Lost) error
	// Idle is called after Heartbeat without any event.
	Idle func() error
}

// Last returns the seq of the last event given out so far: following from it sends only new events.
func (s *Stream) Last(ctx context.Context) (int64, error) {
	_, last, err := s.opts.Store.EventBounds(ctx)
	return last, err
}

// Follow hands h every event after `after`, oldest first, then each new one as it is committed,
// until ctx ends, the stream is closed (ErrClosed) or a handler fails.
func (s *Stream) Follow(ctx context.Context, after int64, h Handlers) error {
	after, err := s.start(ctx, after, h)
	if err != nil {
		return err
	}
	heartbeat := time.NewTimer(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		wake := s.opts.Store.EventsWake()
		evs, err := s.opts.Store.EventsAfter(ctx, after, readBatch)
		if err != nil {
			return err
		}
		if len(evs) > 0 && evs[0].Seq > after+1 && h.Lost != nil {
			if err := h.Lost(Lost{After: after, Next: evs[0].Seq}); err != nil {
				return err
			}
		}
		for _, e := range evs {
			if err := s.send(e, h); err != nil {
				return err
			}
			after = e.Seq
		}
		if len(evs) > 0 {
			heartbeat.Reset(s.opts.Heartbeat)
		}
		if len(evs) == readBatch {
			continue
		}
		if err := s.wait(ctx, wake, heartbeat, h); err != nil {
			return err
		}
	}
}

// start checks where a client resumes: events it asks for that the log no longer holds are
// reported as lost. It returns the seq to follow from.
func (s *Stream) start(ctx context.Context, after int64, h Handlers) (int64, error) {
	oldest, last, err := s.opts.Store.EventBounds(ctx)
	if err != nil {
		return 0, err
	}
	var lost *Lost
	switch {
	case after > last: // an id of another database: go on from now
		lost, after = &Lost{After: after, Next: last + 1}, last
	case after < last && oldest == 0:
		lost, after = &Lost{After: after, Next: last + 1}, last
	case after < last && oldest > after+1:
		lost = &Lost{After: after, Next: oldest}
		after = oldest - 1
	}
	if lost != nil && h.Lost != nil {
		if err := h.Lost(*lost); err != nil {
			return 0, err
		}
	}
	return after, nil
}

func (s *Stream) send(e store.Event, h Handlers) error {
	if e.Empty() {
		return nil
	}
	data, err := s.opts.Encoder.Encode(e)
	if err != nil {
		return err
	}
	return h.Event(Item{Seq: e.Seq, Kind: e.Kind, Data: data})
}

// wait blocks until events are committed, the heartbeat is due (Idle), ctx ends or the stream closes.
func (s *Stream) wait(ctx context.Context, wake <-chan struct{}, heartbeat *time.Timer, h Handlers) error {
	for {
		select {
		case <-wake:
			return nil
		case <-heartbeat.C:
			heartbeat.Reset(s.opts.Heartbeat)
			if h.Idle != nil {
				if err := h.Idle(); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return ErrClosed
		}
	}
}

// Run prunes the event log every minute until ctx ends (see Options.Retention).
func (s *Stream) Run(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		n, err := s.opts.Store.PruneEvents(ctx, time.Now().Add(-s.opts.Retention), s.opts.RetentionCount)
		if err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("event log cleanup", "error", err)
		} else if n > 0 {
			s.opts.Logger.Debug("pruned the event log", "events", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
