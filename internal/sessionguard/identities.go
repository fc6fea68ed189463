package sessionguard

import (
	"context"
	"sync/atomic"

	"go.mau.fi/whatsmeow/store"
)

// identityWatch counts the identity store's failures. whatsmeow's send path skips a device whose
// encryption failed (for instance "failed to check if …'s identity is trusted" while the database
// restarts) and still sends the message to the others, reporting success: a send during which the
// count moved may not have reached every device and must be sent again (the fixed message id
// makes the resend harmless).
type identityWatch struct {
	store.IdentityStore
	faults *atomic.Uint64
}

func (w identityWatch) PutIdentity(ctx context.Context, address string, key [32]byte) error {
	return w.count(w.IdentityStore.PutIdentity(ctx, address, key))
}

func (w identityWatch) IsTrustedIdentity(ctx context.Context, address string, key [32]byte) (bool, error) {
	ok, err := w.IdentityStore.IsTrustedIdentity(ctx, address, key)
	return ok, w.count(err)
}

func (w identityWatch) count(err error) error {
	if err != nil {
		w.faults.Add(1)
	}
	return err
}

// StoreFaults counts the failed identity reads and writes of the guarded device so far; compare
// it before and after a send (see identityWatch).
func (g *Guard) StoreFaults() uint64 { return g.faults.Load() }
