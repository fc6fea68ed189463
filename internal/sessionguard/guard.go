// Package sessionguard keeps whatsmeow from losing Signal session updates when a message is
// sent to a device while a message from that device is being decrypted.
//
// whatsmeow's send path reads the sessions of all recipient devices at once (GetManySessions),
// encrypts, and writes them back (PutManySessions); its decrypt path reads one session
// (GetSession) and writes it back (PutSession). Neither locks against the other, so when they
// overlap on one device the later write undoes the earlier one: a sender that loses its own
// update encrypts its next message with a message key it used already, and the receiver drops
// that message for good ("received message with old counter"); a receiver that loses its update
// cannot decrypt what follows (bad MAC). Under steady traffic both ways about one message in ten
// was lost so (hack/chaos with no fault at all).
//
// Guard wraps a device's session store: a decryption waits for a send that is encrypting, a send
// waits for a decryption of one of its devices (with whatsmeow's decrypted-event buffer: for
// the decryption's transaction to end), and a write that would overwrite a session changed
// since it was read is refused (the waits are bounded, so this can still happen). A refused send
// fails before anything is transmitted (the caller sends it again); a refused decryption is
// answered with a retry receipt, and the sender encrypts the message again.
package sessionguard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.mau.fi/whatsmeow/store"
)

// ErrChanged is the error of a write refused because the session changed since it was read.
var ErrChanged = errors.New("signal session changed while in use")

// sendWait bounds how long a decryption waits for a send to finish encrypting; a send that
// never writes its sessions back (it failed half way) holds nothing longer than this.
const sendWait = 5 * time.Second

// readWait bounds how long a send waits for a decryption of one of its devices to write the
// session back; a decryption that fails writes nothing.
const readWait = time.Second

// Guard is a store.SessionStore that refuses lost updates; see the package comment.
type Guard struct {
	store.SessionStore

	mu      sync.Mutex
	idle    *sync.Cond        // signalled when a send finishes encrypting
	sending bool              // between a send's GetManySessions and its PutManySessions
	since   time.Time         // when sending began
	version map[string]uint64 // bumped on every write of an address
	sendAt  map[string]uint64 // the versions the current send read
	readAt  map[string]uint64 // the versions the single reads (decryptions) read
	// reading holds the addresses read by GetSession and not yet written back, with the time:
	// a send waits for them (at most readWait), so that the decryption's write is not refused.
	reading map[string]time.Time
	// readRaw holds what GetSession read, to keep the previous states (keepPreviousStates).
	readRaw map[string][]byte
	// decrypting counts the decryption transactions running (whatsmeow's decrypted-event
	// buffer); sends wait for them and they for sends, outside the transaction.
	decrypting int
	decryptAt  time.Time
	// Refused counts the writes refused so far.
	Refused uint64
	// faults counts the identity store's failures (StoreFaults).
	faults atomic.Uint64
}

// Wrap guards dev's session store (once; a guarded store is left as it is).
func Wrap(dev *store.Device) *Guard {
	if g, ok := dev.Sessions.(*Guard); ok {
		return g
	}
	g := &Guard{SessionStore: dev.Sessions, version: map[string]uint64{}, readAt: map[string]uint64{},
		reading: map[string]time.Time{}, readRaw: map[string][]byte{}}
	g.idle = sync.NewCond(&g.mu)
	dev.Sessions = g
	dev.Identities = identityWatch{IdentityStore: dev.Identities, faults: &g.faults}
	if dev.EventBuffer != nil {
		dev.EventBuffer = txnGuard{EventBuffer: dev.EventBuffer, g: g}
	}
	return g
}

// inTxn marks the context of a decryption transaction.
type inTxn struct{}

// txnGuard makes whatsmeow's decryption transactions (EnableDecryptedEventBuffer) and sends
// exclusive: a transaction begins once no send is encrypting, and a send begins once no
// transaction runs. The waiting is done outside the transaction, so that a send never waits
// for a database lock the transaction holds while the transaction waits for the send.
type txnGuard struct {
	store.EventBuffer
	g *Guard
}

// DoDecryptionTxn runs fn in the transaction once no send is encrypting.
func (t txnGuard) DoDecryptionTxn(ctx context.Context, fn func(context.Context) error) error {
	g := t.g
	g.mu.Lock()
	g.waitSendLocked()
	g.decrypting++
	g.decryptAt = time.Now()
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.decrypting--
		g.idle.Broadcast()
		g.mu.Unlock()
	}()
	return t.EventBuffer.DoDecryptionTxn(context.WithValue(ctx, inTxn{}, true), fn)
}

// waitDecryptingLocked waits (at most sendWait since the transaction began) until no
// decryption transaction runs.
//
// Every session read or write outside a decryption transaction (a send, the re-encryption for
// a retry receipt) waits so before it touches the database: it holds g.mu while its statement
// waits for the transaction's database lock, and the transaction needs g.mu for its own
// session reads and writes. Without the wait the two stood still until SQLite's busy timeout
// and the retry receipt failed ("database is locked"), so the message it asked for was lost.
func (g *Guard) waitDecryptingLocked() {
	for g.decrypting > 0 {
		left := sendWait - time.Since(g.decryptAt)
		if left <= 0 {
			return
		}
		t := time.AfterFunc(left, func() { g.mu.Lock(); g.idle.Broadcast(); g.mu.Unlock() })
		g.idle.Wait()
		t.Stop()
	}
}

// GetSession reads one session (a decryption), after any send that is encrypting.
func (g *Guard) GetSession(ctx context.Context, address string) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ctx.Value(inTxn{}) == nil { // a transaction waited for the send before it began
		g.waitSendLocked()
		g.waitDecryptingLocked() // see waitDecryptingLocked
	}
	raw, err := g.SessionStore.GetSession(ctx, address)
	if err == nil {
		g.readAt[address] = g.version[address]
		g.reading[address] = time.Now()
		g.readRaw[address] = raw
	}
	return raw, err
}

// waitSendLocked waits (at most sendWait since the send began) until no send is encrypting.
func (g *Guard) waitSendLocked() {
	for g.sending {
		left := sendWait - time.Since(g.since)
		if left <= 0 {
			g.sending = false
			return
		}
		t := time.AfterFunc(left, func() { g.mu.Lock(); g.idle.Broadcast(); g.mu.Unlock() })
		g.idle.Wait()
		t.Stop()
	}
}

// waitReadsLocked waits until no address is being decrypted (each at most readWait since read).
func (g *Guard) waitReadsLocked(addresses []string) {
	for {
		var left time.Duration
		for _, a := range addresses {
			if at, ok := g.reading[a]; ok {
				if l := readWait - time.Since(at); l > left {
					left = l
				} else if l <= 0 {
					delete(g.reading, a)
				}
			}
		}
		if left <= 0 {
			return
		}
		t := time.AfterFunc(left, func() { g.mu.Lock(); g.idle.Broadcast(); g.mu.Unlock() })
		g.idle.Wait()
		t.Stop()
	}
}

// PutSession writes one session unless it changed since this address's last GetSession.
func (g *Guard) PutSession(ctx context.Context, address string, session []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if ctx.Value(inTxn{}) == nil {
		g.waitDecryptingLocked() // see waitDecryptingLocked
	}
	before, read := g.readRaw[address]
	delete(g.readRaw, address)
	if at, ok := g.readAt[address]; ok && at != g.version[address] {
		delete(g.reading, address)
		g.idle.Broadcast()
		g.Refused++
		return fmt.Errorf("%w: %s", ErrChanged, address)
	}
	if read {
		session = keepPreviousStates(before, session)
	}
	if err := g.SessionStore.PutSession(ctx, address, session); err != nil {
		return err
	}
	g.bumpLocked(address)
	g.readAt[address] = g.version[address]
	delete(g.reading, address)
	g.idle.Broadcast()
	return nil
}

// GetManySessions reads the sessions of a send; decryptions wait until it writes them back.
func (g *Guard) GetManySessions(ctx context.Context, addresses []string) (map[string][]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waitSendLocked() // whatsmeow sends one message at a time; this only guards a stale one
	g.waitDecryptingLocked()
	g.waitReadsLocked(addresses)
	out, err := g.SessionStore.GetManySessions(ctx, addresses)
	if err != nil {
		return out, err
	}
	g.sendAt = make(map[string]uint64, len(addresses))
	for _, a := range addresses {
		g.sendAt[a] = g.version[a]
	}
	g.sending, g.since = true, time.Now()
	return out, nil
}

// PutManySessions writes a send's sessions unless one changed since GetManySessions read it.
func (g *Guard) PutManySessions(ctx context.Context, sessions map[string][]byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	defer g.idle.Broadcast()
	defer func() { g.sending = false }() // after the write: a transaction must read what it wrote
	g.waitDecryptingLocked()             // see waitDecryptingLocked
	for a := range sessions {
		if at, ok := g.sendAt[a]; ok && at != g.version[a] {
			g.Refused++
			return fmt.Errorf("%w: %s", ErrChanged, a)
		}
	}
	if err := g.SessionStore.PutManySessions(ctx, sessions); err != nil {
		return err
	}
	for a := range sessions {
		g.bumpLocked(a)
	}
	return nil
}

// DeleteSession and DeleteAllSessions change sessions too.
func (g *Guard) DeleteSession(ctx context.Context, address string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.SessionStore.DeleteSession(ctx, address); err != nil {
		return err
	}
	g.bumpLocked(address)
	return nil
}

func (g *Guard) bumpLocked(address string) { g.version[address]++ }
