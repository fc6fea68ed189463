// Package nats publishes the event log to NATS JetStream, beside the webhook: the same payloads as
// GET /events, one message per event on <prefix>.<namespace>.<instance>.<kind>, with the event's
// outbox sequence in the Nats-Msg-Id, so JetStream drops the copies a retry sends. The sink keeps
// its own cursor in the store (events up to it are acknowledged by JetStream), retries with
// backoff while NATS is down, and loses nothing: the log keeps what the cursor has not passed.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/messenger-operator/messenger-operator/instance/events"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// CursorName is the sink's cursor in the store's event log.
const CursorName = "nats"

// Defaults of Config and Options.
const (
	DefaultSubjectPrefix = "messenger"
	DefaultStream        = "MESSENGER"
	DefaultBatch         = 256
	DefaultMinBackoff    = 200 * time.Millisecond
	DefaultMaxBackoff    = 30 * time.Second
	// DefaultDuplicates is the de-duplication window of a stream the sink creates.
	DefaultDuplicates = 10 * time.Minute
	ackTimeout        = 10 * time.Second
)

// Headers set on each message besides Nats-Msg-Id.
const (
	HeaderEventID  = "Messenger-Event-Id"
	HeaderInstance = "Messenger-Instance"
	HeaderKind     = "Messenger-Event-Kind"
)

// Config is where and how to publish (spec.events.nats).
type Config struct {
	// URL is the NATS server URL (nats://host:4222; several comma separated).
	URL string
	// SubjectPrefix starts every subject (default DefaultSubjectPrefix).
	SubjectPrefix string
	// Stream is the JetStream stream the subjects belong to (default DefaultStream); with
	// CreateStream it is created when missing, capturing <SubjectPrefix>.>.
	Stream       string
	CreateStream bool
	// CredsFile is a NATS credentials file (JWT and NKey seed); User and Password, or Token, are
	// the other ways to authenticate. All empty: no authentication.
	CredsFile      string
	User, Password string
	Token          string
}

// Options configure a Sink.
type Options struct {
	Config
	Store *store.Store
	// Encoder makes the payloads (the same as GET /events and the webhook).
	Encoder events.Encoder
	// Namespace and Instance name the subject and the message ids: <namespace>.<instance>
	// (Namespace may be empty outside a cluster).
	Namespace, Instance string
	// Batch is how many events are in flight at once; MinBackoff and MaxBackoff shape the retries.
	Batch                  int
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	// Published, if set, is told the cursor after each advance (tests, metrics).
	Published func(seq int64)
}

// Sink publishes the event log to JetStream. Run it once.
type Sink struct {
	opts  Options
	scope string // <namespace>.<instance>, the subject's middle and the id prefix
}

// New checks the options.
func New(opts Options) (*Sink, error) {
	if opts.Store == nil || opts.URL == "" || opts.Instance == "" {
		return nil, errors.New("nats sink: a store, a URL and an instance name are required")
	}
	opts.SubjectPrefix = strings.TrimSuffix(cmpOr(opts.SubjectPrefix, DefaultSubjectPrefix), ".")
	opts.Stream = cmpOr(opts.Stream, DefaultStream)
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkToken(opts.SubjectPrefix, true); err != nil {
		return nil, fmt.Errorf("nats sink: subject prefix: %w", err)
	}
	scope := token(opts.Instance)
	if opts.Namespace != "" {
		scope = token(opts.Namespace) + "." + scope
	}
	return &Sink{opts: opts, scope: scope}, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// token makes a name one subject token (Kubernetes names may hold dots).
func token(name string) string {
	return strings.NewReplacer(".", "_", " ", "_", "*", "_", ">", "_").Replace(name)
}

func checkToken(prefix string, dotsOK bool) error {
	if prefix == "" || strings.ContainsAny(prefix, " *>\t") || (!dotsOK && strings.Contains(prefix, ".")) ||
		strings.Contains(prefix, "..") || strings.HasPrefix(prefix, ".") {
		return fmt.Errorf("%q is not a valid subject prefix", prefix)
	}
	return nil
}

// Subject is where an event of kind goes.
func (s *Sink) Subject(kind string) string { return s.opts.SubjectPrefix + "." + s.scope + "." + kind }

// MsgID is the Nats-Msg-Id of event seq: unique per instance, the same on every retry.
func (s *Sink) MsgID(seq int64) string { return s.scope + "." + strconv.FormatInt(seq, 10) }

// connect opens the connection; it keeps reconnecting forever, also when NATS is down at start.
func (s *Sink) connect() (*natsgo.Conn, error) {
	o := []natsgo.Option{natsgo.Name("messenger-operator " + s.scope), natsgo.RetryOnFailedConnect(true),
		natsgo.MaxReconnects(-1), natsgo.ReconnectWait(500 * time.Millisecond),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				s.opts.Logger.Warn("NATS disconnected", "error", err)
			}
		}),
		natsgo.ReconnectHandler(func(*natsgo.Conn) { s.opts.Logger.Info("NATS reconnected") })}
	switch {
	case s.opts.CredsFile != "":
		o = append(o, natsgo.UserCredentials(s.opts.CredsFile))
	case s.opts.User != "":
		o = append(o, natsgo.UserInfo(s.opts.User, s.opts.Password))
	case s.opts.Token != "":
		o = append(o, natsgo.Token(s.opts.Token))
	}
	nc, err := natsgo.Connect(s.opts.URL, o...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS: %w", err)
	}
	return nc, nil
}

// Run publishes events until ctx ends. It returns only then, or on a configuration error.
func (s *Sink) Run(ctx context.Context) error {
	nc, err := s.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2*s.opts.Batch),
		jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		return fmt.Errorf("nats sink: %w", err)
	}
	cursor, err := s.startCursor(ctx)
	if err != nil {
		return err
	}
	s.opts.Logger.Info("publishing events to NATS JetStream", "stream", s.opts.Stream,
		"subjects", s.Subject(">"), "after", cursor)
	b := backoff{min: s.opts.MinBackoff, max: s.opts.MaxBackoff}
	synced := false
	for ctx.Err() == nil {
		if !synced {
			if cursor, err = s.sync(ctx, js, cursor); err != nil {
				s.opts.Logger.Warn("NATS stream not ready", "stream", s.opts.Stream, "error", err)
				b.sleep(ctx)
				continue
			}
			synced = true
		}
		next, err := s.step(ctx, js, cursor)
		if next > cursor {
			if serr := s.opts.Store.SetEventCursor(ctx, CursorName, next); serr != nil {
				err = errors.Join(err, serr)
			} else {
				cursor = next
				if s.opts.Published != nil {
					s.opts.Published(cursor)
				}
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				s.opts.Logger.Warn("publishing to NATS failed; retrying", "after", cursor, "error", err)
			}
			synced = false
			b.sleep(ctx)
			continue
		}
		b.reset()
	}
	return nil
}

// startCursor reads the sink's cursor; a sink seen for the first time starts with the events
// committed from now on (and its cursor holds back pruning from then).
func (s *Sink) startCursor(ctx context.Context) (int64, error) {
	cursor, ok, err := s.opts.Store.EventCursor(ctx, CursorName)
	if err != nil || ok {
		return cursor, err
	}
	_, last, err := s.opts.Store.EventBounds(ctx)
	if err != nil {
		return 0, err
	}
	return last, s.opts.Store.SetEventCursor(ctx, CursorName, last)
}

// sync makes sure the stream exists (creating it if allowed) and moves the cursor past what the
// stream already holds from this instance: after a failure whose acks were lost, events stored
// then are not sent again even beyond the stream's duplicate window.
func (s *Sink) sync(ctx context.Context, js jetstream.JetStream, cursor int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	st, err := js.Stream(ctx, s.opts.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) && s.opts.CreateStream {
		st, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: s.opts.Stream,
			Subjects: []string{s.opts.SubjectPrefix + ".>"}, Duplicates: DefaultDuplicates, Storage: jetstream.FileStorage})
	}
	if err != nil {
		return cursor, fmt.Errorf("stream %s: %w", s.opts.Stream, err)
	}
	last, err := st.GetLastMsgForSubject(ctx, s.Subject(">"))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return cursor, nil
	}
	if err != nil {
		return cursor, fmt.Errorf("reading the last message of %s: %w", s.Subject(">"), err)
	}
	seq, err := strconv.ParseInt(last.Header.Get(HeaderEventID), 10, 64)
	if err != nil || seq <= cursor {
		return cursor, nil //nolint:nilerr // not ours, or nothing new: keep the cursor
	}
	if err := s.opts.Store.SetEventCursor(ctx, CursorName, seq); err != nil {
		return cursor, err
	}
	return seq, nil
}

// step publishes the next batch after cursor, or waits for events when there are none. It returns
// the new cursor: the last event of the longest acknowledged prefix of the batch.
func (s *Sink) step(ctx context.Context, js jetstream.JetStream, cursor int64) (int64, error) {
	wake := s.opts.Store.EventsWake()
	evs, err := s.opts.Store.EventsAfter(ctx, cursor, s.opts.Batch)
	if err != nil {
		return cursor, err
	}
	if len(evs) == 0 {
		select {
		case <-wake:
		case <-ctx.Done():
		}
		return cursor, nil
	}
	futures := make([]jetstream.PubAckFuture, len(evs))
	for i, e := range evs {
		if e.Empty() {
			continue
		}
		if futures[i], err = s.publish(js, e); err != nil {
			break
		}
	}
	return s.await(ctx, evs, futures, cursor, err)
}

func (s *Sink) publish(js jetstream.JetStream, e store.Event) (jetstream.PubAckFuture, error) {
	data, err := s.opts.Encoder.Encode(e)
	if err != nil {
		return nil, err
	}
	seq := strconv.FormatInt(e.Seq, 10)
	m := &natsgo.Msg{Subject: s.Subject(e.Kind), Data: data, Header: natsgo.Header{}}
	m.Header.Set(HeaderEventID, seq)
	m.Header.Set(HeaderInstance, s.scope)
	m.Header.Set(HeaderKind, e.Kind)
	f, err := js.PublishMsgAsync(m, jetstream.WithMsgID(s.MsgID(e.Seq)), jetstream.WithExpectStream(s.opts.Stream))
	if err != nil {
		return nil, fmt.Errorf("publishing event %d: %w", e.Seq, err)
	}
	return f, nil
}

// await collects the acks in order and returns the cursor after the acknowledged prefix.
func (s *Sink) await(ctx context.Context, evs []store.Event, futures []jetstream.PubAckFuture, cursor int64,
	pubErr error) (int64, error) {
	for i, e := range evs {
		if e.Empty() {
			cursor = e.Seq
			continue
		}
		f := futures[i]
		if f == nil {
			return cursor, pubErr
		}
		select {
		case <-f.Ok():
			cursor = e.Seq
		case err := <-f.Err():
			return cursor, fmt.Errorf("event %d: %w", e.Seq, err)
		case <-ctx.Done():
			return cursor, ctx.Err()
		}
	}
	return cursor, pubErr
}

// backoff is an exponential delay with jitter between retries.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) reset() { b.cur = 0 }

func (b *backoff) sleep(ctx context.Context) {
	b.cur = min(max(b.min, 2*b.cur), b.max)
	d := b.cur/2 + rand.N(b.cur/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
