package cmd

import (
	"os"
	"sort"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/engine"
)

// BenchmarkLivenessStale measures, against the sandbox with real whatsmeow, the time from
// injecting the stale fault to substatus stale in GET /status?full=true, and to connected again
// (the instance reconnects by itself), polling the status every 5 ms. It reports p50 and p99
// (nearest rank) of both. With LIVENESS_PRODUCTION=1 it uses the production thresholds (about
// 45 s a round, so run few rounds), else the test thresholds of liveness_test.go.
//
//	go test -run '^$' -bench BenchmarkLivenessStale -benchtime 20x ./cmd/
//	LIVENESS_PRODUCTION=1 go test -run '^$' -bench BenchmarkLivenessStale -benchtime 3x -timeout 30m ./cmd/
func BenchmarkLivenessStale(b *testing.B) {
	live := testLiveness
	if os.Getenv("LIVENESS_PRODUCTION") == "1" {
		live = engine.Liveness{} // the defaults
	}
	sb := startSandbox(b)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: b.TempDir(), token: "tok", networkURL: sb,
		allowPrivate: true, maxFileBytes: 1 << 20, mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour,
		shutdownTimeout: 5 * time.Second, liveness: live}
	base, stop := startInstance(b, o)
	defer stop()
	pairAgainstSandbox(b, base, sb)
	waitFor := func(start time.Time, want string) time.Duration {
		for {
			if substatus(b, base) == want {
				return time.Since(start)
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("substatus never became %s", want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var toStale, toConnected []time.Duration
	b.ResetTimer()
	for range b.N {
		waitFor(time.Now(), "connected")
		start := time.Now()
		sandboxCall(b, sb, "POST", "/sandbox/faults", map[string]string{"phone": "15550001111", "kind": "stale"}, nil)
		toStale = append(toStale, waitFor(start, "stale"))
		toConnected = append(toConnected, waitFor(start, "connected"))
	}
	b.StopTimer()
	for name, ds := range map[string][]time.Duration{"stale": toStale, "reconnected": toConnected} {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		b.ReportMetric(nearestRank(ds, 50).Seconds(), name+"-p50-s")
		b.ReportMetric(nearestRank(ds, 99).Seconds(), name+"-p99-s")
	}
	b.ReportMetric(0, "ns/op")
}

// nearestRank is the p-th percentile of sorted ds.
func nearestRank(ds []time.Duration, p int) time.Duration {
	i := (p*len(ds) + 99) / 100
	return ds[max(i-1, 0)]
}
