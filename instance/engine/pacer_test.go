package engine

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/store"
)

// fakePacer returns a pacer on a simulated clock that the test moves.
func fakePacer(st store.Settings, sentBefore int, clock *time.Time) *pacer {
	rng := rand.New(rand.NewPCG(1, 2))
	return &pacer{
		now:      func() time.Time { return *clock },
		jitter:   func(max time.Duration) time.Duration { return time.Duration(rng.Int64N(int64(max) + 1)) },
		sentOn:   func(context.Context, time.Time) (int, error) { return sentBefore, nil },
		settings: func() store.Settings { return st },
	}
}

func TestPacerSpacesSendsByDelayAndJitter(t *testing.T) {
	clock := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	delay, jitter := 2*time.Second, time.Second
	p := fakePacer(store.Settings{SendDelay: delay, SendJitter: jitter}, 0, &clock)
	var prev time.Time
	var sum time.Duration
	const sends = 200
	for i := range sends {
		r, err := p.reserve(context.Background())
		if err != nil || r.Held {
			t.Fatalf("send %d: %+v %v", i, r, err)
		}
		if i > 0 {
			gap := r.At.Sub(prev)
			if gap < delay || gap > delay+jitter {
				t.Fatalf("gap %d is %v, outside [%v, %v]", i, gap, delay, delay+jitter)
			}
			sum += gap
		}
		prev = r.At
		clock = r.At.Add(10 * time.Millisecond) // the send takes 10 ms, then the lane asks again
	}
	mean := sum / (sends - 1)
	if mean < delay+jitter/4 || mean > delay+3*jitter/4 {
		t.Fatalf("mean gap %v: the jitter is not spread over [0, %v]", mean, jitter)
	}
}

func TestPacerWithoutDelayDoesNotWait(t *testing.T) {
	clock := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	p := fakePacer(store.Settings{}, 0, &clock)
	for range 5 {
		r, _ := p.reserve(context.Background())
		if !r.At.Equal(clock) {
			t.Fatalf("unpaced send waits until %v (now %v)", r.At, clock)
		}
	}
}

func TestPacerHoldsAtTheDailyLimitUntilTheNextDay(t *testing.T) {
	clock := time.Date(2026, 12, 3, 22, 30, 0, 0, time.UTC)
	p := fakePacer(store.Settings{DailyLimit: 3}, 1, &clock) // one sent earlier today (before a restart)
	for i := range 2 {
		if r, _ := p.reserve(context.Background()); r.Held {
			t.Fatalf("send %d held below the limit", i)
		}
	}
	r, _ := p.reserve(context.Background())
	if !r.Held || !r.Resume.Equal(time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)) || !strings.Contains(r.Reason, "3 of 3") {
		t.Fatalf("third send today: %+v, want held until midnight UTC", r)
	}
	p.release() // a send that failed does not count
	if r, _ := p.reserve(context.Background()); r.Held {
		t.Fatal("held after a failed send gave its place back")
	}
	st, _ := p.status(context.Background())
	if !st.Held || st.SentToday != 3 || st.NextSendAt != nextDay(clock).UnixMilli() {
		t.Fatalf("status %+v", st)
	}
	clock = clock.Add(2 * time.Hour) // the next day: the store's count for it is read again
	p.sentOn = func(context.Context, time.Time) (int, error) { return 0, nil }
	if r, _ := p.reserve(context.Background()); r.Held {
		t.Fatal("still held the next day")
	}
}
