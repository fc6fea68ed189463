package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/messenger-operator/messenger-operator/instance/account"
)

// Liveness are the thresholds by which the engine proves its connection. Zero fields take the
// defaults, which detect a server that stopped answering within 60 s: at most Quiet + Check +
// Answer (45 s) by the engine's own ping, and at most 40 s by whatsmeow's keepalive (a ping every
// 20–30 s, 10 s to answer).
type Liveness struct {
	// Quiet is how long the server may send nothing at all before the engine pings it itself
	// (default 30 s: whatsmeow's keepalive pongs alone arrive at least every 30 s).
	Quiet time.Duration
	// Answer is how long the engine's ping may go unanswered before the connection is stale
	// (default 10 s).
	Answer time.Duration
	// Check is how often the engine looks at the time of the last frame (default 5 s).
	Check time.Duration
	// MinBackoff and MaxBackoff bound the reconnect backoff: it doubles from MinBackoff up to
	// MaxBackoff, with equal jitter (defaults 1 s and 30 s).
	MinBackoff, MaxBackoff time.Duration
}

// Defaults of Liveness.
const (
	DefaultQuiet      = 30 * time.Second
	DefaultAnswer     = 10 * time.Second
	DefaultCheck      = 5 * time.Second
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
)

// withDefaults fills the zero fields.
func (l Liveness) withDefaults() Liveness {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.Quiet, DefaultQuiet)
	def(&l.Answer, DefaultAnswer)
	def(&l.Check, DefaultCheck)
	def(&l.MinBackoff, DefaultMinBackoff)
	def(&l.MaxBackoff, DefaultMaxBackoff)
	l.MaxBackoff = max(l.MaxBackoff, l.MinBackoff)
	return l
}

// backoff is the wait before reconnection attempt number failures: doubling from MinBackoff up
// to MaxBackoff, then a random point in its upper half (equal jitter), so instances that lost
// their connections together do not come back in lockstep, and no wait is shorter than half the
// step.
func (l Liveness) backoff(failures int) time.Duration {
	d := l.MinBackoff
	for i := 1; i < failures && d < l.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, l.MaxBackoff)
	half := d / 2
	return half + rand.N(d-half+1)
}

var _ account.Liveness = (*Engine)(nil)

// Stale reports whether the connection stopped answering and no new one has been made yet.
func (e *Engine) Stale() (bool, string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.staleSince.IsZero() || e.status.Substatus != account.SubstatusStale {
		return false, ""
	}
	return true, e.staleWhy
}

// LastContact is when the last frame arrived from the server.
func (e *Engine) LastContact() time.Time {
	if n := e.lastContact.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Reconnects counts the connections made again after one was lost or dropped.
func (e *Engine) Reconnects() uint64 { return e.reconnects.Load() }

// touch records that something arrived from the server.
func (e *Engine) touch() { e.lastContact.Store(time.Now().UnixNano()) }

// quietFor is how long nothing has arrived from the server.
func (e *Engine) quietFor() time.Duration {
	return time.Since(e.LastContact())
}

// watchLiveness pings the server whenever it has been quiet for too long, until ctx ends.
func (e *Engine) watchLiveness(ctx context.Context) {
	tick := time.NewTicker(e.live.Check)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cli := e.connected()
		if cli == nil || e.quietFor() < e.live.Quiet {
			continue
		}
		e.probe(ctx, cli, fmt.Sprintf("nothing arrived from WhatsApp for %s", e.live.Quiet))
	}
}

// connected returns the client while its connection is established and proven once (substatus
// connected), else nil.
func (e *Engine) connected() *whatsmeow.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cli == nil || e.status.Substatus != account.SubstatusConnected || !e.cli.IsConnected() {
		return nil
	}
	return e.cli
}

// probe pings the server and marks the connection stale when the ping goes unanswered. Only one
// probe runs at a time.
func (e *Engine) probe(ctx context.Context, cli *whatsmeow.Client, why string) {
	if !e.probing.CompareAndSwap(false, true) {
		return
	}
	defer e.probing.Store(false)
	//nolint:staticcheck // whatsmeow has no public ping; this is the keepalive IQ with our own deadline.
	_, err := cli.DangerousInternals().SendIQ(ctx, whatsmeow.DangerousInfoQuery{
		Namespace: "w:p", Type: "get", To: types.ServerJID, Timeout: e.live.Answer, NoRetry: true,
	})
	var iqErr *whatsmeow.IQError
	switch {
	case err == nil, errors.As(err, &iqErr):
		return // an answer, even an error, is the server talking
	case errors.Is(err, whatsmeow.ErrIQTimedOut):
		if e.quietFor() < e.live.Answer {
			return // the pong was lost, but other frames came: the server is there
		}
		e.markStale(cli, fmt.Sprintf("%s and a ping got no answer within %s", why, e.live.Answer))
	}
	// Other errors (not connected, disconnected meanwhile) are the supervisor's business.
}

// keepAliveFailed handles whatsmeow's report of an unanswered keepalive ping.
func (e *Engine) keepAliveFailed(cli *whatsmeow.Client, ev *events.KeepAliveTimeout) {
	if e.quietFor() < e.live.Answer {
		return // frames still arrive: a slow pong, not a dead connection
	}
	e.markStale(cli, fmt.Sprintf("%d keepalive pings got no answer (last answered %s)", ev.ErrorCount,
		ev.LastSuccess.UTC().Format(time.RFC3339)))
}

// sendTimedOut is told of a failed send: one that waited in vain for the server's ack makes the
// engine ping the server.
func (e *Engine) sendTimedOut(ctx context.Context, cli *whatsmeow.Client, err error) {
	if ctx.Err() != nil || !(errors.Is(err, whatsmeow.ErrMessageTimedOut) || errors.Is(err, whatsmeow.ErrIQTimedOut) ||
		errors.Is(err, context.DeadlineExceeded)) {
		return
	}
	go e.probe(context.WithoutCancel(ctx), cli, "a send got no answer")
}

// markStale records that cli's connection stopped answering, drops it and schedules the
// reconnection after the backoff. The substatus stays stale (and /readyz fails) until a new
// connection is made.
func (e *Engine) markStale(cli *whatsmeow.Client, why string) {
	e.mu.Lock()
	if e.cli != cli || !e.staleSince.IsZero() {
		e.mu.Unlock()
		return
	}
	e.staleSince, e.staleWhy = time.Now(), why
	e.failures++
	wait := e.live.backoff(e.failures)
	e.until = time.Now().Add(wait)
	e.mu.Unlock()
	e.log.Warn("WhatsApp connection is stale; dropping it and reconnecting", "why", why, "retryIn", wait)
	e.setStatus(account.StatusLoading, account.SubstatusStale, "", "WhatsApp stopped answering ("+why+"); reconnecting")
	cli.Disconnect()
	signal(e.kick)
}

// connectedAgain clears the stale mark once a connection is made, counting reconnections.
func (e *Engine) connectedAgain() {
	e.mu.Lock()
	e.staleSince, e.staleWhy = time.Time{}, ""
	again := e.everConnected
	e.everConnected = true
	e.mu.Unlock()
	e.touch()
	if again {
		e.reconnects.Add(1)
	}
}

// reconnecting is the substatus of a connection being made: stale while the last one was
// dropped for not answering, else sub.
func (e *Engine) reconnecting(sub string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.staleSince.IsZero() {
		return account.SubstatusStale
	}
	return sub
}

// clientLogger is whatsmeow's logger for a client: log, and a stamp of the time of every frame
// received. whatsmeow logs each node it receives through its "Recv" sub-logger (at debug level,
// called whatever the level), which is the one hook that sees every frame, pongs and acks
// included, without changing the library.
func (e *Engine) clientLogger(log waLog.Logger) waLog.Logger {
	return contactLogger{Logger: log, touch: e.touch}
}

type contactLogger struct {
	waLog.Logger
	touch func()
}

func (l contactLogger) Sub(module string) waLog.Logger {
	sub := l.Logger.Sub(module)
	if module == "Recv" {
		return recvLogger{Logger: sub, touch: l.touch}
	}
	return contactLogger{Logger: sub, touch: l.touch}
}

type recvLogger struct {
	waLog.Logger
	touch func()
}

func (l recvLogger) Debugf(msg string, args ...any) {
	l.touch()
	l.Logger.Debugf(msg, args...)
}
