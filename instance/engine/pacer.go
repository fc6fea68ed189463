package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// pacer spaces the queue's sends by the settings' sendDelay plus a random part of sendJitter, and
// holds them once the day's sendLimit is reached (days in UTC): an account that sends at a
// human pace, and not more than its owner allows, is less likely to be banned. One pacer serves
// every lane, so the pace is the account's, not each chat's. Held sends stay queued.
type pacer struct {
	now      func() time.Time
	jitter   func(max time.Duration) time.Duration
	sentOn   func(context.Context, time.Time) (int, error) // the store's count of a day's sends
	settings func() store.Settings

	mu   sync.Mutex
	next time.Time // the earliest start of the next send
	day  string    // the day sent counts
	sent int       // sends of day finished or in flight
}

// newPacer returns a pacer on the real clock and the store's settings and counts.
func newPacer(st *store.Store) *pacer {
	return &pacer{
		now: time.Now, settings: st.Settings, sentOn: st.SentOn,
		jitter: func(max time.Duration) time.Duration { return rand.N(max + 1) },
	}
}

// reservation is the pacer's answer for one send.
type reservation struct {
	// At is when the send may start.
	At time.Time
	// Held is set when the daily limit is reached; the send waits until Resume.
	Held   bool
	Resume time.Time
	// Reason explains a hold.
	Reason string
}

// reserve takes the next send slot: the later of now and the previous slot plus the delay and
// jitter. A held answer takes nothing.
func (p *pacer) reserve(ctx context.Context) (reservation, error) {
	st := p.settings()
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if st.DailyLimit > 0 {
		if err := p.loadDay(ctx, now); err != nil {
			return reservation{}, err
		}
		if p.sent >= st.DailyLimit {
			resume := nextDay(now)
			return reservation{Held: true, Resume: resume, Reason: fmt.Sprintf(
				"daily limit reached: %d of %d sends today; sends resume at %s", p.sent, st.DailyLimit,
				resume.Format(time.RFC3339))}, nil
		}
	}
	at := now
	if gap := st.SendDelay; gap > 0 || st.SendJitter > 0 {
		if st.SendJitter > 0 {
			gap += p.jitter(st.SendJitter)
		}
		if slot := p.next; slot.After(at) {
			at = slot
		}
		p.next = at.Add(gap)
	}
	p.sent++
	return reservation{At: at}, nil
}

// release gives back the day's count of a reserved send that did not go out.
func (p *pacer) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sent > 0 {
		p.sent--
	}
}

// loadDay reads the day's count from the store when the day changed (or on first use).
func (p *pacer) loadDay(ctx context.Context, now time.Time) error {
	day := now.UTC().Format(time.DateOnly)
	if day == p.day {
		return nil
	}
	n, err := p.sentOn(ctx, now)
	if err != nil {
		return err
	}
	p.day, p.sent = day, n
	return nil
}

// status reports the pacing for GET /showMessagesQueue.
func (p *pacer) status(ctx context.Context) (account.Pacing, error) {
	st := p.settings()
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	out := account.Pacing{SendDelay: st.SendDelay.Seconds(), SendJitter: st.SendJitter.Seconds(), DailyLimit: st.DailyLimit}
	if err := p.loadDay(ctx, now); err != nil {
		return out, err
	}
	out.SentToday = p.sent
	next := now
	if p.next.After(next) {
		next = p.next
	}
	if st.DailyLimit > 0 && p.sent >= st.DailyLimit {
		next = nextDay(now)
		out.Held = true
		out.Status = fmt.Sprintf("daily limit reached: %d of %d sends today; sends resume at %s", p.sent,
			st.DailyLimit, next.Format(time.RFC3339))
	}
	out.NextSendAt = next.UnixMilli()
	return out, nil
}

// nextDay is the start of the UTC day after t's.
func nextDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// pace waits for the send slot of one item; false means the send is held (or ctx ended) and
// must go back to the queue, with the reason.
func (e *Engine) pace(ctx context.Context) (bool, string) {
	r, err := e.pacer.reserve(ctx)
	if err != nil {
		e.log.Warn("reading the day's send count failed; sending unpaced", "err", err)
		return true, ""
	}
	if r.Held {
		e.holdUntil(r.Resume)
		return false, r.Reason
	}
	if wait := r.At.Sub(e.pacer.now()); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			e.pacer.release()
			return false, "the instance is stopping"
		}
	}
	return true, ""
}

// paceIf paces the send when paced is set; unpaced sends go at once.
func (e *Engine) paceIf(ctx context.Context, paced bool) (bool, string) {
	if !paced {
		return true, ""
	}
	return e.pace(ctx)
}

// holdUntil records when held sends may go again, for the drainer's timer.
func (e *Engine) holdUntil(t time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.heldUntil.Before(t) {
		e.heldUntil = t
	}
}

// Pacing implements account.Pacer.
func (e *Engine) Pacing(ctx context.Context) (account.Pacing, error) { return e.pacer.status(ctx) }
