// Package engine is the WhatsApp connection of an instance: a whatsmeow client kept connected
// (or pairing) by a supervisor, whose events fill the journal and acks of the store, and a drainer
// that sends the durable outbound queue in order while the account is logged in.
package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// Options configure an Engine.
type Options struct {
	// Store is the instance's durable store; whatsmeow's own tables live in its WhatsmeowDB.
	Store *store.Store
	// Media is where incoming media is saved and outgoing files are read.
	Media *media.Dir
	// NetworkURL points the client at a sandbox network; empty means the real WhatsApp service.
	NetworkURL string
	// Proxy is an optional proxy URL (http, https or socks5) for all WhatsApp traffic.
	Proxy string
	// Logger receives structured logs.
	Logger *slog.Logger
	// Gate, when set, decides when the engine may hold a WhatsApp connection (in a pod: while
	// this process holds the account's Lease). Nil means always.
	Gate Gate
	// Liveness are the thresholds by which the connection is proven (zero fields: defaults that
	// detect a silent server within 60 s).
	Liveness Liveness
}

// Gate decides when the engine may connect: the supervisor consults it before every connection
// attempt and disconnects as soon as it closes.
type Gate interface {
	// Allowed reports whether the engine may hold a connection now.
	Allowed() bool
	// Changed receives a value whenever Allowed may have changed.
	Changed() <-chan struct{}
}

// Timing of the supervisor and the drainer.
const (
	sendTimeout  = 60 * time.Second
	drainTick    = 5 * time.Second
	mediaTimeout = 60 * time.Second
)

// Engine implements account.Engine with whatsmeow.
type Engine struct {
	opts      Options
	live      Liveness // opts.Liveness with defaults
	log       *slog.Logger
	container *sqlstore.Container
	waDB      *sql.DB       // the database of whatsmeow's tables (store.WhatsmeowDB)
	kick      chan struct{} // wakes the supervisor
	wake      chan struct{} // wakes the queue drainer

	mu       sync.Mutex
	cli      *whatsmeow.Client
	status   account.Status
	hold     bool      // do not reconnect until a reboot (stream replaced, client outdated)
	until    time.Time // do not reconnect before (temporary ban)
	failures int       // consecutive failed connection attempts

	sendsOK, sendsFailed atomic.Uint64 // outcomes of drained sends, for metrics
	names                groupNames    // group subjects for chatName (names.go)
	pacer                *pacer        // spaces and limits the queue's sends (pacer.go)
	heldUntil            time.Time     // the daily limit holds sends until then (under mu)
	connectedAt          time.Time     // when the current connection was begun (under mu)
	phones               phoneCache    // recent checkPhone answers (chats.go)

	// Liveness (liveness.go).
	lastContact   atomic.Int64  // unix nanoseconds of the last frame from the server
	reconnects    atomic.Uint64 // connections made again after one was lost or dropped
	probing       atomic.Bool   // a ping of the engine's own is out
	staleSince    time.Time     // when the connection was found silent; zero once reconnected (under mu)
	staleWhy      string        // what was silent (under mu)
	everConnected bool          // a connection was made once (under mu)

	subMu sync.Mutex
	subs  map[chan struct{}]struct{} // status change subscribers
}

var (
	_ account.Engine    = (*Engine)(nil)
	_ account.Notifier  = (*Engine)(nil)
	_ account.SendStats = (*Engine)(nil)
	_ account.Pacer     = (*Engine)(nil)
)

// New prepares the engine: whatsmeow's tables are created or upgraded in the store's database.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Media == nil {
		return nil, errors.New("engine needs a store and a media directory")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	waDB, dialect := opts.Store.WhatsmeowDB()
	waLog := waLogger(opts.Logger.With("component", "whatsmeow"))
	container := sqlstore.NewWithDB(waDB, dialect, waLog)
	if err := container.Upgrade(ctx); err != nil {
		return nil, fmt.Errorf("preparing the whatsmeow store: %w", err)
	}
	err := opts.Store.MoveWhatsmeowTables(ctx, func(ctx context.Context, db *sql.DB) error {
		return sqlstore.NewWithDB(db, dialect, waLog).Upgrade(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("moving whatsmeow's tables into their own file: %w", err)
	}
	e := &Engine{
		opts: opts, live: opts.Liveness.withDefaults(), log: opts.Logger, container: container, waDB: waDB,
		kick: make(chan struct{}, 1), wake: make(chan struct{}, 1), subs: map[chan struct{}]struct{}{},
		status: account.Status{AccountStatus: account.StatusInit, Substatus: account.SubstatusConnecting,
			Sandbox: opts.NetworkURL != ""},
		pacer: newPacer(opts.Store),
	}
	if e.status.Sandbox {
		e.log.Warn("CONNECTING TO A SANDBOX NETWORK, NOT TO WHATSAPP", "network", opts.NetworkURL)
	}
	return e, nil
}

// Run keeps the account connected and drains the queue until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	drained := make(chan struct{})
	go func() { defer close(drained); e.drainLoop(ctx) }()
	watched := make(chan struct{})
	go func() { defer close(watched); e.watchLiveness(ctx) }()
	e.supervise(ctx)
	<-drained
	<-watched
	return nil
}

// Status returns the current state without blocking.
func (e *Engine) Status() account.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

// Subscribe returns a channel that receives a value after the status changed, and a function
// that ends the subscription.
func (e *Engine) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	e.subMu.Lock()
	e.subs[ch] = struct{}{}
	e.subMu.Unlock()
	return ch, func() {
		e.subMu.Lock()
		delete(e.subs, ch)
		e.subMu.Unlock()
	}
}

// notify wakes every subscriber without blocking.
func (e *Engine) notify() {
	e.subMu.Lock()
	defer e.subMu.Unlock()
	for ch := range e.subs {
		signal(ch)
	}
}

// allowed reports whether the gate lets the engine connect now.
func (e *Engine) allowed() bool { return e.opts.Gate == nil || e.opts.Gate.Allowed() }

// WakeQueue tells the drainer that new items were queued.
func (e *Engine) WakeQueue() { signal(e.wake) }

// Reboot drops the connection and connects again, clearing conflict and outdated holds.
func (e *Engine) Reboot(ctx context.Context) error {
	e.mu.Lock()
	cli := e.cli
	e.hold, e.until, e.failures = false, time.Time{}, 0
	e.mu.Unlock()
	if cli != nil {
		cli.Disconnect()
	}
	e.setStatus(account.StatusLoading, account.SubstatusConnecting, "", "rebooting")
	signal(e.kick)
	return ctx.Err()
}

// Logout logs the device out (WhatsApp forgets it) and starts pairing a fresh device.
func (e *Engine) Logout(ctx context.Context) error {
	e.mu.Lock()
	cli := e.cli
	e.mu.Unlock()
	if cli == nil || !e.allowed() {
		// Without the gate another process owns the connection (and maybe the same session).
		return account.ErrUnavailable
	}
	if cli.Store.ID != nil {
		if err := cli.Logout(ctx); err != nil {
			// The server could not be told; forget the device locally all the same.
			e.log.Warn("logout request failed, deleting the session locally", "err", err)
			cli.Disconnect()
			if err := cli.Store.Delete(ctx); err != nil {
				return fmt.Errorf("deleting the session: %w", err)
			}
		}
	} else {
		cli.Disconnect()
	}
	e.mu.Lock()
	e.cli, e.hold, e.until = nil, false, time.Time{}
	e.mu.Unlock()
	e.setStatus(account.StatusLoading, account.SubstatusPairing, "", "logged out; preparing a new QR code")
	signal(e.kick)
	return nil
}

// PairingCode links the account by phone number instead of QR: the returned code is typed on the
// phone.
func (e *Engine) PairingCode(ctx context.Context, phone string) (string, error) {
	e.mu.Lock()
	cli := e.cli
	e.mu.Unlock()
	if cli == nil || !cli.IsConnected() {
		return "", account.ErrUnavailable
	}
	if cli.Store.ID != nil {
		return "", account.ErrAlreadyAuthenticated
	}
	code, err := cli.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
	if err != nil {
		return "", fmt.Errorf("requesting a pairing code: %w", err)
	}
	return code, nil
}

// Me describes the logged-in account.
func (e *Engine) Me(context.Context) (account.Me, error) {
	e.mu.Lock()
	cli := e.cli
	e.mu.Unlock()
	if cli == nil || cli.Store.ID == nil {
		return account.Me{}, account.ErrNotAuthenticated
	}
	st := cli.Store
	me := account.Me{ID: st.ID.User + "@c.us", Phone: st.ID.User, Name: st.PushName, Platform: st.Platform,
		BusinessName: st.BusinessName}
	if !st.LID.IsEmpty() {
		me.LID = st.LID.User + "@" + types.HiddenUserServer
	}
	return me, nil
}

// client returns the current client if it is logged in.
func (e *Engine) loggedIn() *whatsmeow.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cli != nil && e.cli.IsLoggedIn() {
		return e.cli
	}
	return nil
}

func (e *Engine) setStatus(status, sub, qr, msg string) {
	e.mu.Lock()
	old := e.status
	e.status.AccountStatus, e.status.Substatus, e.status.QR, e.status.Message = status, sub, qr, msg
	changed := old != e.status
	e.mu.Unlock()
	if changed {
		e.notify()
	}
}

// signal wakes a goroutine waiting on ch without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
