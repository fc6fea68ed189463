package sessionguard

import (
	"context"
	"errors"
	"testing"

	"go.mau.fi/whatsmeow/store"
)

// failingIdentities answers every trust check with err.
type failingIdentities struct {
	store.IdentityStore
	err error
}

func (f failingIdentities) IsTrustedIdentity(context.Context, string, [32]byte) (bool, error) {
	return f.err == nil, f.err
}

func (f failingIdentities) PutIdentity(context.Context, string, [32]byte) error { return f.err }

// A failed identity read or write is counted (a send during which the count moved is sent
// again); successful ones are not; wrapping twice keeps one watch.
func TestStoreFaultsCountIdentityFailures(t *testing.T) {
	ids := &failingIdentities{}
	dev := &store.Device{Sessions: &mapSessions{m: map[string][]byte{}}, Identities: ids}
	g := Wrap(dev)
	Wrap(dev)
	ctx := context.Background()
	if ok, err := dev.Identities.IsTrustedIdentity(ctx, "a", [32]byte{}); !ok || err != nil || g.StoreFaults() != 0 {
		t.Fatalf("a good check: %v %v, faults %d", ok, err, g.StoreFaults())
	}
	ids.err = errors.New("the database system is shutting down")
	if _, err := dev.Identities.IsTrustedIdentity(ctx, "a", [32]byte{}); err == nil {
		t.Fatal("the error was swallowed")
	}
	if err := dev.Identities.PutIdentity(ctx, "a", [32]byte{}); err == nil {
		t.Fatal("the error was swallowed")
	}
	if got := g.StoreFaults(); got != 2 {
		t.Fatalf("faults = %d, want 2", got)
	}
}
