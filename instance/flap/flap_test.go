package flap

import (
	"testing"
	"time"
)

// report is one simulated report: when, and which state.
type report struct {
	at    time.Duration
	state string
}

// simulate feeds a gate the state changes (time → new state) in order, fires its retries, and
// returns the reports made up to end. It runs in simulated time.
func simulate(g *Gate[string], changes []report, end time.Duration) []report {
	t0 := time.Unix(1_000_000, 0)
	var out []report
	var state string
	var retry time.Duration = -1
	offer := func(at time.Duration) {
		ok, next := g.Offer(t0.Add(at), state)
		retry = -1
		if ok {
			g.Sent(t0.Add(at), state)
			out = append(out, report{at, state})
		} else if !next.IsZero() {
			retry = next.Sub(t0)
		}
	}
	for i := 0; ; {
		switch {
		case retry >= 0 && retry <= end && (i == len(changes) || retry < changes[i].at):
			offer(retry)
		case i < len(changes) && changes[i].at <= end:
			state = changes[i].state
			offer(changes[i].at)
			i++
		default:
			return out
		}
	}
}

// flapping is a connection that drops every 2 s and is back 500 ms later, for d.
func flapping(start, d time.Duration) []report {
	var cs []report
	for at := start; at < start+d; at += 2 * time.Second {
		cs = append(cs, report{at, "connecting"}, report{at + 500*time.Millisecond, "connected"})
	}
	return cs
}

// Ten minutes of a connection dropping every 2 s give at most 17 reports: 1 at once, then holds
// of 1, 2, 4, …, 32 s (6 reports), then one a minute (9 in the rest of the 10 minutes) and the
// settled state at the end. The settled state is the last one reported.
func TestTenMinutesOfFlappingGiveABoundedNumberOfReports(t *testing.T) {
	const bound = 17
	g := NewGate[string](New(time.Second, time.Minute, 2*time.Minute))
	changes := append([]report{{0, "connected"}}, flapping(time.Minute, 10*time.Minute)...)
	reports := simulate(g, changes, time.Hour)
	flapReports := len(reports) - 1 // the first is the initial connection
	t.Logf("%d state changes in 10 minutes gave %d reports (bound %d)", len(changes)-1, flapReports, bound)
	if flapReports > bound {
		t.Errorf("%d reports during a 10-minute flap, want at most %d: %v", flapReports, bound, reports)
	}
	if flapReports < 5 {
		t.Errorf("only %d reports: the flapping was hidden", flapReports)
	}
	if last := reports[len(reports)-1]; last.state != "connected" || last.at > 11*time.Minute+time.Minute {
		t.Errorf("last report %+v, want the settled state within the maximum hold", last)
	}
	if reports[1].at != time.Minute || reports[1].state != "connecting" {
		t.Errorf("the first drop after a quiet period was reported at %v (%s), want at once", reports[1].at, reports[1].state)
	}
	for i := 2; i < len(reports); i++ {
		if reports[i].state == reports[i-1].state {
			t.Errorf("state %q reported twice in a row", reports[i].state)
		}
	}
}

// After a quiet period the hold resets: the next drop is reported at once again.
func TestHoldResetsAfterQuiet(t *testing.T) {
	g := NewGate[string](New(time.Second, time.Minute, 2*time.Minute))
	changes := append([]report{{0, "connected"}}, flapping(time.Minute, 5*time.Minute)...)
	changes = append(changes, report{20 * time.Minute, "connecting"}, report{20*time.Minute + time.Second, "connected"})
	reports := simulate(g, changes, time.Hour)
	var late []report
	for _, r := range reports {
		if r.at >= 20*time.Minute {
			late = append(late, r)
		}
	}
	if len(late) != 2 || late[0].at != 20*time.Minute || late[1].at != 20*time.Minute+time.Second {
		t.Errorf("reports after the quiet period %v, want the drop at once and the return 1 s later", late)
	}
}

// A state that flips back before its report is due is not reported at all, and the hold grows
// only with reports.
func TestCoalescesAndDeduplicates(t *testing.T) {
	lim := New(time.Second, time.Minute, 2*time.Minute)
	g := NewGate[string](lim)
	t0 := time.Unix(0, 0)
	if ok, _ := g.Offer(t0, "a"); !ok {
		t.Fatal("the first state was held")
	}
	g.Sent(t0, "a")
	if ok, retry := g.Offer(t0.Add(100*time.Millisecond), "b"); ok || !retry.Equal(t0.Add(time.Second)) {
		t.Fatalf("b: report %v retry %v, want held until 1 s", ok, retry)
	}
	if ok, retry := g.Offer(t0.Add(200*time.Millisecond), "a"); ok || !retry.IsZero() {
		t.Fatalf("back to a: report %v retry %v, want nothing to report", ok, retry)
	}
	if ok, _ := g.Offer(t0.Add(time.Second), "a"); ok {
		t.Fatal("the unchanged state was reported again")
	}
	if lim.Hold() != time.Second {
		t.Errorf("hold %v, want 1 s", lim.Hold())
	}
	g.Forget()
	if ok, _ := g.Offer(t0.Add(2*time.Second), "a"); !ok {
		t.Error("after Forget the state was not reported again")
	}
	g.Bypassed("qr")
	if s, _ := g.Last(); s != "qr" {
		t.Errorf("last %q after Bypassed", s)
	}
}

// Defaults fill zero durations, and the cap is never below the minimum.
func TestNewDefaults(t *testing.T) {
	l := New(0, 0, 0)
	if l.min != DefaultMin || l.max != DefaultMax || l.quiet != DefaultQuiet {
		t.Errorf("defaults %v %v %v", l.min, l.max, l.quiet)
	}
	if l := New(time.Hour, time.Second, 0); l.max != time.Hour {
		t.Errorf("max %v below min", l.max)
	}
	if !(RealClock{}).Now().After(time.Unix(0, 0)) {
		t.Error("RealClock")
	}
}
