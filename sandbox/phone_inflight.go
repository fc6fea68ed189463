package sandbox

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.mau.fi/whatsmeow/store"
)

// errPhoneStopping refuses a phone's session update once the phone is stopping: the message
// stays undecrypted (and unacknowledged), so the restarted sandbox delivers it again and the
// phone decrypts it then, instead of saving a ratchet step for a message it would not list.
var errPhoneStopping = errors.New("phone is stopping")

// inflightWait bounds how long a stopping phone waits for the message it decrypted last to
// reach its list. A session update not followed by a listed message (a send's update, a
// protocol message) keeps it waiting this long at most.
const inflightWait = 5 * time.Second

// inflight follows the window between a decryption saving the phone's Signal session and the
// message reaching the phone's list (or being given up as undecryptable).
//
// whatsmeow's Disconnect does not wait for the node being handled: its handler queue loop
// returns when the socket closes and the handler goes on in the background. A phone stopped
// by Server.Close could so have saved a session step for a message it listed only after its
// list was saved, or never; unacknowledged, the message came again after the restart, whatsmeow
// dropped it as a repeat ("received message with old counter") and it was lost. A stopping
// phone therefore waits for an open window to close, and refuses later session updates.
type inflight struct {
	mu       sync.Mutex
	stopping bool
	open     chan struct{} // closed when the window closes; nil while none is open
}

// put runs a decryption's session write, opening the window when it succeeds.
func (f *inflight) put(write func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopping {
		return errPhoneStopping
	}
	if err := write(); err != nil {
		return err
	}
	if f.open == nil {
		f.open = make(chan struct{})
	}
	return nil
}

// settle closes the window: the decrypted message is on the list (or was given up).
func (f *inflight) settle() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open != nil {
		close(f.open)
		f.open = nil
	}
}

// stop refuses further session writes and waits (at most inflightWait) for an open window.
func (f *inflight) stop() {
	f.mu.Lock()
	f.stopping = true
	open := f.open
	f.mu.Unlock()
	if open == nil {
		return
	}
	t := time.NewTimer(inflightWait)
	defer t.Stop()
	select {
	case <-open:
	case <-t.C:
	}
}

// phoneSessions is a phone's session store, reporting single-session writes (decryptions)
// to the phone's inflight.
type phoneSessions struct {
	store.SessionStore
	f *inflight
}

// PutSession writes a session unless the phone is stopping.
func (s phoneSessions) PutSession(ctx context.Context, address string, session []byte) error {
	return s.f.put(func() error { return s.SessionStore.PutSession(ctx, address, session) })
}

// phoneSenderKeys is a phone's sender-key store, reporting sender-key writes (group
// decryptions, whose chain steps are as final as a session's) to the phone's inflight.
type phoneSenderKeys struct {
	store.SenderKeyStore
	f *inflight
}

// PutSenderKey writes a sender key unless the phone is stopping.
func (s phoneSenderKeys) PutSenderKey(ctx context.Context, group, user string, session []byte) error {
	return s.f.put(func() error { return s.SenderKeyStore.PutSenderKey(ctx, group, user, session) })
}

// isStopping tells whether stop began: decryptions fail then on purpose.
func (f *inflight) isStopping() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopping
}
