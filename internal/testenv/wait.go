package testenv

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// Wait is how long Eventually polls before it fails: a bound against hangs, not a timing
// assertion.
const Wait = time.Minute

// pollEvery is the pause between two checks.
const pollEvery = 50 * time.Millisecond

// Eventually polls check until it returns nil; after Wait it fails t with what and check's last
// error.
func Eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	EventuallyWithin(t, Wait, what, check)
}

// EventuallyWithin is Eventually with another bound than Wait.
func EventuallyWithin(t testing.TB, wait time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(pollEvery)
	}
}

// EventuallyTrue polls ok until it returns true; after Wait it fails t, naming what it waited for.
func EventuallyTrue(t testing.TB, what string, ok func() bool) {
	t.Helper()
	Eventually(t, what, func() error {
		if ok() {
			return nil
		}
		return fmt.Errorf("timed out waiting")
	})
}

// FreePort asks the kernel for a free loopback TCP port. Another process may take it before the
// caller binds it; callers that can retry should.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is FreePort as a "127.0.0.1:PORT" address.
func FreeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}
