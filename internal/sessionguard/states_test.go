package sessionguard

import (
	"bytes"
	"testing"

	"go.mau.fi/libsignal/state/record"
	"go.mau.fi/whatsmeow/store"
)

func state(base, root string) *record.StateStructure {
	return &record.StateStructure{SenderBaseKey: []byte(base), RootKey: []byte(root), SessionVersion: 3,
		SenderChain: &record.ChainStructure{}}
}

func serialized(cur *record.StateStructure, prev ...*record.StateStructure) []byte {
	return store.SignalProtobufSerializer.Session.Serialize(&record.SessionStructure{SessionState: cur, PreviousStates: prev})
}

// A decryption that failed with the current state and succeeded with an archived one stores the
// record with the current state ratcheted by the failed try (libsignal's in-place tries); the
// guard writes the state as it was read instead, and drops the duplicate libsignal leaves.
func TestKeepPreviousStatesRestoresRuinedStates(t *testing.T) {
	before := serialized(state("mine", "root-mine"), state("theirs", "root-theirs"))
	after := serialized(state("theirs", "root-theirs-next"), state("mine", "root-mine-ruined"), state("theirs", "root-theirs"))
	got, err := store.SignalProtobufSerializer.Session.Deserialize(keepPreviousStates(before, after))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.SessionState.RootKey, []byte("root-theirs-next")) {
		t.Errorf("current state %q, want the one the decryption advanced", got.SessionState.RootKey)
	}
	if len(got.PreviousStates) != 1 || !bytes.Equal(got.PreviousStates[0].RootKey, []byte("root-mine")) {
		var roots []string
		for _, s := range got.PreviousStates {
			roots = append(roots, string(s.RootKey))
		}
		t.Errorf("previous states %q, want [root-mine] (as read, once)", roots)
	}
}

// A state the record did not hold before (a new session from a prekey message) is kept, and
// records the guard cannot read are written as they are.
func TestKeepPreviousStatesKeepsNewAndUnreadable(t *testing.T) {
	before := serialized(state("mine", "root-mine"))
	after := serialized(state("new", "root-new"), state("mine", "root-mine"))
	got, _ := store.SignalProtobufSerializer.Session.Deserialize(keepPreviousStates(before, after))
	if len(got.PreviousStates) != 1 || !bytes.Equal(got.SessionState.RootKey, []byte("root-new")) {
		t.Errorf("got current %q and %d previous, want root-new and 1", got.SessionState.RootKey, len(got.PreviousStates))
	}
	if out := keepPreviousStates([]byte("not a record"), after); !bytes.Equal(out, after) {
		t.Error("an unreadable record read before changed what is written")
	}
}
