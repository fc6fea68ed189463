package testenv

import (
	"fmt"
	"os"
	"testing"
)

// shared is the control plane Main started for the test binary; unavailable says why there is
// none.
var (
	shared      *Env
	unavailable string
)

// Main runs a test binary's tests with one shared control plane: it starts it, hands it to setup
// (nil, or a function that starts what the tests need and returns how to stop it), runs the tests
// and stops everything. Without the envtest binaries it runs the tests without one, and Shared
// skips each test that needs it. Call it from TestMain as os.Exit(testenv.Main(m, opts, setup)).
func Main(m *testing.M, opts Options, setup func(*Env) (stop func(), err error)) int {
	if unavailable = Unavailable(); unavailable != "" {
		return m.Run()
	}
	e, err := Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := e.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	if setup != nil {
		stop, err := setup(e)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if stop != nil {
			defer stop()
		}
	}
	shared = e
	return m.Run()
}

// Shared returns the control plane Main started; when there is none it skips t (see Missing).
func Shared(t testing.TB) *Env {
	t.Helper()
	if shared == nil {
		why := unavailable
		if why == "" {
			why = "no control plane: the test binary's TestMain does not call testenv.Main"
		}
		Missing(t, why)
	}
	return shared
}

// Missing ends a test whose environment (the envtest binaries, PostgreSQL, …) is missing, saying
// why: it skips the test, but under CI=true it fails it, so that a CI run never passes by
// skipping what it was meant to test.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: a missing test dependency fails the test)", why)
	}
	t.Skip(why)
}
