package cmd

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// BenchmarkQueueHeadOfLine measures, against the sandbox with real whatsmeow, the time from
// POST /sendMessage to Bob's phone for a send queued right behind a send to a group the account
// is not in, and for the same send with nothing before it; both alternate in one run. It reports
// the medians and their ratio (behind-failing / alone).
//
//	go test -run '^$' -bench BenchmarkQueueHeadOfLine -benchtime 40x ./cmd/
func BenchmarkQueueHeadOfLine(b *testing.B) {
	sb := startSandbox(b)
	sandboxCall(b, sb, "POST", "/sandbox/phones", map[string]string{"phone": "15550003333", "name": "Carol"}, nil)
	var other struct{ Group string }
	sandboxCall(b, sb, "POST", "/sandbox/phones/15550002222/groups",
		map[string]any{"name": "Without the instance", "members": []string{"15550003333"}}, &other)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: b.TempDir(), token: "tok", networkURL: sb,
		instanceName: "bench", allowPrivate: true, maxFileBytes: 1 << 20,
		mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(b, o)
	defer stop()
	pairAgainstSandbox(b, base, sb)

	deliver := func(i int, behindFailing bool) time.Duration {
		if behindFailing {
			call(b, "POST", base+"/sendMessage", `{"chatId":"`+other.Group+`","body":"x"}`)
		}
		start := time.Now() // the good send's own POST
		r := call(b, "POST", base+"/sendMessage", fmt.Sprintf(`{"phone":"15550002222","body":"m%d"}`, i))
		id, _ := r["id"].(string)
		waID := id[strings.LastIndex(id, "_")+1:]
		for {
			var msgs struct{ Messages []sandbox.PhoneMessage }
			sandboxCall(b, sb, "GET", "/sandbox/phones/15550002222/messages", nil, &msgs)
			for j := len(msgs.Messages) - 1; j >= 0; j-- {
				if msgs.Messages[j].ID == waID {
					return time.Since(start)
				}
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("message %d not delivered", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	deliver(-1, false) // warm up: sessions and device lists
	var alone, behind []time.Duration
	b.ResetTimer()
	for i := range b.N {
		behind = append(behind, deliver(2*i, true))
		alone = append(alone, deliver(2*i+1, false))
	}
	b.StopTimer()
	ma, mb := median(alone), median(behind)
	b.ReportMetric(float64(ma.Microseconds())/1000, "ms-alone")
	b.ReportMetric(float64(mb.Microseconds())/1000, "ms-behind-failing")
	b.ReportMetric(float64(mb)/float64(ma), "ratio")
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
