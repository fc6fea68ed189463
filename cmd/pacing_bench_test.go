package cmd

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// BenchmarkPacingAccuracy measures, on the real clock, the gaps between sends the pacer lets go
// (as the receiving phone sees them) against the configured sendDelay and sendJitter: 30 sends
// per iteration with sendDelay 0.5 s and sendJitter 0.25 s, so each gap should be in
// [0.5 s, 0.75 s] and average 0.625 s.
func BenchmarkPacingAccuracy(b *testing.B) {
	const delay, jitter, sends = 500 * time.Millisecond, 250 * time.Millisecond, 30
	sb := startSandbox(b)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: b.TempDir(), token: "tok", networkURL: sb,
		instanceName: "bench", allowPrivate: true, maxFileBytes: 1 << 20,
		mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(b, o)
	defer stop()
	pairAgainstSandbox(b, base, sb)
	call(b, "POST", base+"/sendMessage", `{"phone":"15550002222","body":"warm up"}`)
	call(b, "POST", base+"/settings", fmt.Sprintf(`{"sendDelay":%g,"sendJitter":%g}`, delay.Seconds(), jitter.Seconds()))
	var gaps []time.Duration
	b.ResetTimer()
	for i := range b.N {
		for j := range sends {
			call(b, "POST", base+"/sendMessage", fmt.Sprintf(`{"phone":"15550002222","body":"p%d-%d"}`, i, j))
		}
		// The phone's message times are whole seconds: watch for each arrival instead (every 5 ms).
		seen := map[string]time.Time{}
		prefix := fmt.Sprintf("p%d-", i)
		deadline := time.Now().Add(time.Minute)
		for len(seen) < sends && time.Now().Before(deadline) {
			var msgs struct{ Messages []sandbox.PhoneMessage }
			sandboxCall(b, sb, "GET", "/sandbox/phones/15550002222/messages", nil, &msgs)
			now := time.Now()
			for _, m := range msgs.Messages {
				if _, ok := seen[m.Body]; !ok && !m.FromMe && strings.HasPrefix(m.Body, prefix) {
					seen[m.Body] = now
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		if len(seen) < sends {
			b.Fatalf("%d of %d paced sends arrived", len(seen), sends)
		}
		var times []time.Time
		for _, t := range seen {
			times = append(times, t)
		}
		sort.Slice(times, func(x, y int) bool { return times[x].Before(times[y]) })
		for k := 1; k < len(times); k++ {
			gaps = append(gaps, times[k].Sub(times[k-1]))
		}
	}
	b.StopTimer()
	sort.Slice(gaps, func(x, y int) bool { return gaps[x] < gaps[y] })
	var sum time.Duration
	for _, g := range gaps {
		sum += g
	}
	mean := sum / time.Duration(len(gaps))
	b.ReportMetric(float64(gaps[0].Milliseconds()), "ms-min-gap")
	b.ReportMetric(float64(mean.Milliseconds()), "ms-mean-gap")
	b.ReportMetric(float64(gaps[len(gaps)-1].Milliseconds()), "ms-max-gap")
	b.ReportMetric(float64(mean)/float64(delay+jitter/2), "mean/expected")
}
