package flap

import "time"

// Gate pairs a Limiter with the de-duplication of a comparable state: it reports a state only when
// it differs from the last one reported, and no sooner than the Limiter allows. The state reported
// after a hold is the latest one offered (coalescing).
type Gate[T comparable] struct {
	lim              *Limiter
	seen, sent       T
	hasSeen, hasSent bool
}

// NewGate returns a Gate using lim.
func NewGate[T comparable](lim *Limiter) *Gate[T] { return &Gate[T]{lim: lim} }

// Offer gives the gate the current state at now. It returns whether to report v now; while a
// report is held off, retry is when to offer again (zero: nothing to report).
func (g *Gate[T]) Offer(now time.Time, v T) (report bool, retry time.Time) {
	if !g.hasSeen || v != g.seen {
		g.lim.Changed(now)
		g.seen, g.hasSeen = v, true
	}
	if g.hasSent && v == g.sent {
		return false, time.Time{}
	}
	if due := g.lim.Due(); now.Before(due) {
		return false, due
	}
	return true, time.Time{}
}

// Sent records that v was reported at now; call it once the report succeeded.
func (g *Gate[T]) Sent(now time.Time, v T) {
	g.lim.Reported(now)
	g.sent, g.hasSent = v, true
}

// Bypassed records that v was reported at once without the Limiter's leave (a state that must
// never wait, such as a new QR code): it neither counts as a change nor grows the hold.
func (g *Gate[T]) Bypassed(v T) {
	g.seen, g.hasSeen = v, true
	g.sent, g.hasSent = v, true
}

// Forget makes the next Offer report even the state last reported (the report's target lost it).
func (g *Gate[T]) Forget() { g.hasSent = false }

// Last returns the state last reported and whether there is one.
func (g *Gate[T]) Last() (T, bool) { return g.sent, g.hasSent }
