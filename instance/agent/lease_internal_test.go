package agent

import (
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/messenger-operator/messenger-operator/instance/store"
)

// The default timing renews less often than before (density) but keeps the fencing rule: a
// holder that stops renewing closes its gate before another process may take the Lease.
func TestLeaseTimingKeepsFencing(t *testing.T) {
	if err := checkLeaseTiming(DefaultLeaseDuration, DefaultRenewDeadline, DefaultRetryPeriod); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if DefaultRetryPeriod < 20*time.Second {
		t.Errorf("renewal every %s: the density figures assume at most one renewal per 20 s", DefaultRetryPeriod)
	}
	for _, c := range []struct {
		name                    string
		duration, deadline, try time.Duration
	}{
		{"deadline plus retry past the lease", 60 * time.Second, 45 * time.Second, 20 * time.Second},
		{"deadline longer than the lease", 30 * time.Second, 40 * time.Second, 5 * time.Second},
		{"deadline within client-go's jitter", 60 * time.Second, 24 * time.Second, 20 * time.Second},
	} {
		if err := checkLeaseTiming(c.duration, c.deadline, c.try); err == nil {
			t.Errorf("%s: %s/%s/%s accepted", c.name, c.duration, c.deadline, c.try)
		}
	}
	if err := checkLeaseTiming(4*time.Second, 3*time.Second, 500*time.Millisecond); err != nil {
		t.Errorf("the tests' short timing: %v", err)
	}
}

// New refuses a timing that breaks the fencing rule instead of running with it.
func TestNewRefusesUnsafeLeaseTiming(t *testing.T) {
	// New talks to no server: an unreachable address and an unopened store suffice.
	_, err := New(Options{Config: &rest.Config{Host: "http://127.0.0.1:1"}, Namespace: "ns", Name: "a", Store: &store.Store{},
		LeaseDuration: 30 * time.Second, RenewDeadline: 25 * time.Second, RetryPeriod: 10 * time.Second})
	if err == nil {
		t.Fatal("New accepted a 30 s lease with 25 s deadline and 10 s retry")
	}
}
