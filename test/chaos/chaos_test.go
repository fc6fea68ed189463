// Package chaos_test runs a short version of `make chaos`: two instance servers against a
// sandbox process, traffic both ways, a random mix of faults for 45 seconds.
package chaos_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/chaos/chaos"
	"github.com/messenger-operator/messenger-operator/internal/testbin"
)

// Nothing accepted is lost or doubled through 45 seconds of kills, suspends, disconnects and
// sandbox restarts (a fault every 3 s, about 15 in all).
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("45 s of faults; skipped with -short")
	}
	cfg := chaos.Config{Bin: testbin.Path(t), Duration: 45 * time.Second, Instances: 2, Kinds: chaos.DefaultKinds,
		Every: 3 * time.Second, Traffic: 250 * time.Millisecond, Settle: 2 * time.Minute, Out: os.Stderr}
	res, err := chaos.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Accepted == 0 {
		t.Fatalf("%d accepted, %d delivered once, %d lost, %d doubled", res.Accepted, res.Once, res.Lost, res.Doubled)
	}
}
