package sessionguard

import (
	"context"
	"errors"
	"sync"
	"testing"

	"go.mau.fi/whatsmeow/store"
)

// mapSessions is an in-memory session store (only what the guard calls).
type mapSessions struct {
	store.SessionStore
	mu sync.Mutex
	m  map[string][]byte
}

func (s *mapSessions) GetSession(_ context.Context, a string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[a], nil
}

func (s *mapSessions) PutSession(_ context.Context, a string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[a] = v
	return nil
}

func (s *mapSessions) GetManySessions(_ context.Context, as []string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for _, a := range as {
		out[a] = s.m[a]
	}
	return out, nil
}

func (s *mapSessions) PutManySessions(_ context.Context, m map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, v := range m {
		s.m[a] = v
	}
	return nil
}

func guarded() (*Guard, *mapSessions) {
	inner := &mapSessions{m: map[string][]byte{"a": []byte("s0")}}
	dev := &store.Device{Sessions: inner}
	return Wrap(dev), inner
}

// A decryption that starts while a send is encrypting reads what the send writes back.
func TestDecryptionWaitsForSend(t *testing.T) {
	g, _ := guarded()
	ctx := context.Background()
	if _, err := g.GetManySessions(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	go func() {
		raw, _ := g.GetSession(ctx, "a")
		got <- string(raw)
	}()
	if err := g.PutManySessions(ctx, map[string][]byte{"a": []byte("s1 (sent)")}); err != nil {
		t.Fatal(err)
	}
	if v := <-got; v != "s1 (sent)" {
		t.Fatalf("the decryption read %q, want the send's session", v)
	}
	if err := g.PutSession(ctx, "a", []byte("s2 (received)")); err != nil {
		t.Fatalf("the decryption's write was refused: %v", err)
	}
}

// A write of a session that changed since it was read is refused, for sends and decryptions.
func TestStaleWritesRefused(t *testing.T) {
	g, inner := guarded()
	ctx := context.Background()
	if _, err := g.GetSession(ctx, "a"); err != nil { // a decryption reads s0 …
		t.Fatal(err)
	}
	if _, err := g.GetManySessions(ctx, []string{"a"}); err != nil { // … a send waits, then reads s0 too
		t.Fatal(err)
	}
	if err := g.PutManySessions(ctx, map[string][]byte{"a": []byte("s1 (sent)")}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutSession(ctx, "a", []byte("s1' (received)")); !errors.Is(err, ErrChanged) {
		t.Fatalf("stale decryption write: %v, want ErrChanged", err)
	}
	if string(inner.m["a"]) != "s1 (sent)" {
		t.Fatalf("store holds %q", inner.m["a"])
	}
	if _, err := g.GetManySessions(ctx, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := g.DeleteSession(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := g.PutManySessions(ctx, map[string][]byte{"a": []byte("stale")}); !errors.Is(err, ErrChanged) {
		t.Fatalf("stale send write: %v, want ErrChanged", err)
	}
	if g.Refused != 2 {
		t.Fatalf("refused %d writes, want 2", g.Refused)
	}
}

func (s *mapSessions) DeleteSession(_ context.Context, a string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, a)
	return nil
}
