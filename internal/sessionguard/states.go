package sessionguard

import (
	"go.mau.fi/libsignal/state/record"
	"go.mau.fi/whatsmeow/store"
)

// keepPreviousStates undoes what a decryption did to the archived states of a session record.
//
// go.mau.fi/libsignal decrypts a message by trying the current state and then each previous
// one in place: a state that fails (bad MAC) has been ratcheted forward with the wrong key
// anyway (a new root key, a new sender ratchet key pair, a receiver chain for a key it never
// saw), and when a later state succeeds the whole record is stored, the ruined states with it.
// libsignal-protocol-java tries copies and keeps the originals. Two parties whose first messages
// cross hold two states each (their own and the other's) and use them in turn, so every
// message of the older state after a switch was lost (bad MAC, then "no valid sessions").
//
// The previous states of after are replaced by their versions in before (matched by the sender
// base key, which names a state), duplicates are dropped, and the current state is kept as it
// is: archived states are never changed by a successful decryption, only promoted.
//
// A record that cannot be read is written as it is.
func keepPreviousStates(before, after []byte) []byte {
	if len(before) == 0 {
		return after
	}
	ser := store.SignalProtobufSerializer
	old, err := ser.Session.Deserialize(before)
	if err != nil {
		return after
	}
	cur, err := ser.Session.Deserialize(after)
	if err != nil || cur.SessionState == nil {
		return after
	}
	originals := map[string]*record.StateStructure{}
	for _, s := range append([]*record.StateStructure{old.SessionState}, old.PreviousStates...) {
		if s != nil && len(s.SenderBaseKey) > 0 {
			originals[string(s.SenderBaseKey)] = s
		}
	}
	seen := map[string]bool{}
	if len(cur.SessionState.SenderBaseKey) > 0 {
		seen[string(cur.SessionState.SenderBaseKey)] = true
	}
	changed := false
	kept := make([]*record.StateStructure, 0, len(cur.PreviousStates))
	for _, s := range cur.PreviousStates {
		key := ""
		if s != nil {
			key = string(s.SenderBaseKey)
		}
		if key != "" && seen[key] {
			changed = true
			continue
		}
		if orig := originals[key]; key != "" && orig != nil {
			if orig != s {
				changed = true
			}
			s = orig
		}
		if key != "" {
			seen[key] = true
		}
		kept = append(kept, s)
	}
	if !changed {
		return after
	}
	cur.PreviousStates = kept
	return ser.Session.Serialize(cur)
}
