package engine

import (
	"testing"
	"time"

	waLog "go.mau.fi/whatsmeow/util/log"
)

// The reconnect backoff doubles up to its cap, and every wait lies in the upper half of its step
// (equal jitter): never shorter than half of it, never above it, and not always the same.
func TestLivenessBackoffIsJitteredAndCapped(t *testing.T) {
	l := Liveness{}.withDefaults()
	for failures, step := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second,
		5: 16 * time.Second, 6: 30 * time.Second, 50: 30 * time.Second} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := l.backoff(failures)
			if d < step/2 || d > step {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", failures, d, step/2, step)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("backoff(%d) has no jitter: always %v", failures, seen)
		}
	}
}

// Zero thresholds take defaults that find a silent server within 60 s.
func TestLivenessDefaultsDetectWithinAMinute(t *testing.T) {
	l := Liveness{}.withDefaults()
	if worst := l.Quiet + l.Check + l.Answer; worst > time.Minute {
		t.Fatalf("worst-case detection %s exceeds a minute", worst)
	}
	if l := (Liveness{MinBackoff: time.Minute, MaxBackoff: time.Second}).withDefaults(); l.MaxBackoff < l.MinBackoff {
		t.Fatalf("cap %s below the floor %s", l.MaxBackoff, l.MinBackoff)
	}
}

// Every node whatsmeow logs through its "Recv" sub-logger stamps the time of the last contact;
// other modules do not.
func TestLivenessRecvLoggerStampsContact(t *testing.T) {
	e := &Engine{}
	log := e.clientLogger(waLog.Noop)
	log.Sub("Send").Debugf("%s", "<iq/>")
	if !e.LastContact().IsZero() {
		t.Fatal("a sent node counted as contact")
	}
	before := time.Now()
	log.Sub("Recv").Debugf("%s", "<iq type=result/>")
	if got := e.LastContact(); got.Before(before) {
		t.Fatalf("last contact %s, want after %s", got, before)
	}
}
