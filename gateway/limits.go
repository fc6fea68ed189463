package gateway

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiters holds one token bucket per key and per instance, created on first use and retuned
// when a key's rate or burst changes (keys rotate and change without restarts).
type limiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newLimiters() *limiters { return &limiters{m: map[string]*rate.Limiter{}} }

// get returns the bucket of id set to l (nil when l has no rate: unlimited).
func (ls *limiters) get(id string, l Limit) *rate.Limiter {
	if l.Rate <= 0 {
		return nil
	}
	burst := max(l.Burst, 1)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	lim := ls.m[id]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(l.Rate), burst)
		ls.m[id] = lim
		return lim
	}
	if lim.Limit() != rate.Limit(l.Rate) {
		lim.SetLimit(rate.Limit(l.Rate))
	}
	if lim.Burst() != burst {
		lim.SetBurst(burst)
	}
	return lim
}

// tokens reports the tokens left in id's bucket now (-1 when it has none yet).
func (ls *limiters) tokens(id string) float64 {
	ls.mu.Lock()
	lim := ls.m[id]
	ls.mu.Unlock()
	if lim == nil {
		return -1
	}
	return lim.Tokens()
}

// admit takes one token from every bucket, or none: it returns 0 when the request may go, else
// how long until it could.
func admit(now time.Time, buckets ...*rate.Limiter) time.Duration {
	var taken []*rate.Reservation
	for _, b := range buckets {
		if b == nil {
			continue
		}
		r := b.ReserveN(now, 1)
		if !r.OK() {
			cancelAll(now, taken)
			return time.Second
		}
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			cancelAll(now, taken)
			return d
		}
		taken = append(taken, r)
	}
	return 0
}

func cancelAll(now time.Time, rs []*rate.Reservation) {
	for _, r := range rs {
		r.CancelAt(now)
	}
}

// retryAfter is a Retry-After value in whole seconds (at least 1).
func retryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
