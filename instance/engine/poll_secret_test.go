package engine

import (
	"bytes"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/util/keys"
)

// A poll keeps its secret across attempts (the same WhatsApp id), and polls do not share one.
func TestPollSecretIsStablePerPoll(t *testing.T) {
	cli := &whatsmeow.Client{Store: &store.Device{IdentityKey: keys.NewKeyPair()}}
	a, again, b := pollSecret(cli, "3EB0AAAA"), pollSecret(cli, "3EB0AAAA"), pollSecret(cli, "3EB0BBBB")
	if len(a) != 32 || !bytes.Equal(a, again) || bytes.Equal(a, b) {
		t.Errorf("secrets %x, %x, %x", a, again, b)
	}
	other := &whatsmeow.Client{Store: &store.Device{IdentityKey: keys.NewKeyPair()}}
	if bytes.Equal(pollSecret(other, "3EB0AAAA"), a) {
		t.Error("two devices derive the same secret")
	}
	if pollSecret(&whatsmeow.Client{Store: &store.Device{}}, "3EB0AAAA") != nil {
		t.Error("a secret without an identity key")
	}
}
