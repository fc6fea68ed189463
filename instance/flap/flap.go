// Package flap rate-limits reports of a state that may flap (a WhatsApp connection dropping and
// coming back every few seconds): the first change after a quiet period is reported at once,
// then each report holds the next one off for a time that doubles while the state keeps changing,
// up to a cap. Callers coalesce: when the hold ends they report the latest state, once, and only
// when it differs from the last one reported, so the final settled state is always reported.
package flap

import "time"

// Defaults of a Limiter.
const (
	// DefaultMin is the hold after the first report of a burst.
	DefaultMin = time.Second
	// DefaultMax caps the hold: a state flapping for ever is reported about once a minute.
	DefaultMax = time.Minute
	// DefaultQuiet is how long the state must stay unchanged for the hold to reset.
	DefaultQuiet = 2 * time.Minute
)

// Clock tells the time; tests pass a simulated one.
type Clock interface {
	Now() time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Limiter decides when a changed state may be reported. It is not safe for concurrent use: one
// reporting loop owns it.
type Limiter struct {
	min, max, quiet time.Duration
	hold            time.Duration // the hold after lastReport (0: none, the next change goes at once)
	lastReport      time.Time
	lastChange      time.Time
}

// New returns a Limiter; zero durations take the defaults.
func New(lo, hi, quiet time.Duration) *Limiter {
	if lo <= 0 {
		lo = DefaultMin
	}
	if hi <= 0 {
		hi = DefaultMax
	}
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	return &Limiter{min: lo, max: max(hi, lo), quiet: quiet}
}

// Changed records that the state was seen changing at now, whether or not the change will be
// reported (a change that flips back before it is reported still counts as flapping). After a
// quiet period the hold resets, so the change is reported at once.
func (l *Limiter) Changed(now time.Time) {
	if l.lastChange.IsZero() || now.Sub(l.lastChange) >= l.quiet {
		l.hold = 0
	}
	l.lastChange = now
}

// Due returns when a pending change may be reported: at or before now means now.
func (l *Limiter) Due() time.Time {
	if l.hold == 0 {
		return time.Time{}
	}
	return l.lastReport.Add(l.hold)
}

// Allowed tells whether a pending change may be reported at now.
func (l *Limiter) Allowed(now time.Time) bool { return !now.Before(l.Due()) }

// Reported records a report made at now; the next one is held off for a doubled hold.
func (l *Limiter) Reported(now time.Time) {
	switch {
	case l.hold == 0:
		l.hold = l.min
	default:
		l.hold = min(2*l.hold, l.max)
	}
	l.lastReport = now
}

// Hold returns the current hold (for logs and tests).
func (l *Limiter) Hold() time.Duration { return l.hold }
