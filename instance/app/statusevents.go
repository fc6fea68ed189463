package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/flap"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// statusKey is what a webhook status event reports a change of.
type statusKey struct{ accountStatus, substatus string }

// statusEvents turns the engine's status changes into webhook status events, with the kube
// agent's flap discipline: a change after a quiet period goes out at once, a flapping connection
// is reported no more often than an exponentially growing hold allows (the latest state wins, the
// settled state always follows), and the same state is never reported twice in a row. A new QR
// code's "got qr code" is never held.
type statusEvents struct {
	eng   account.Engine
	store *store.Store
	log   *slog.Logger
	clock flap.Clock
	gate  *flap.Gate[statusKey]
	// allowed tells whether this process owns the account (holds its Lease); a standby process
	// sharing the database reports nothing.
	allowed func() bool
}

// reportStatusEvents runs statusEvents on the engine of p until ctx ends (nothing for engines
// without notifications).
func reportStatusEvents(ctx context.Context, p parts, log *slog.Logger) {
	n, ok := p.engine.(account.Notifier)
	if !ok {
		return
	}
	changes, stop := n.Subscribe()
	defer stop()
	s := &statusEvents{eng: p.engine, store: p.store, log: log, clock: flap.RealClock{},
		gate: flap.NewGate[statusKey](flap.New(0, 0, 0)), allowed: func() bool { return true }}
	if p.agent != nil {
		s.allowed = p.agent.Gate().Allowed
	}
	held := time.NewTimer(time.Hour)
	held.Stop()
	defer held.Stop()
	for {
		if retry := s.step(ctx); !retry.IsZero() {
			held.Reset(retry.Sub(s.clock.Now()))
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-held.C:
		}
	}
}

// step reports the current status if it is due; while a change is held it returns when to look
// again (zero: nothing held).
func (s *statusEvents) step(ctx context.Context) time.Time {
	if s.store.Settings().WebhookURL == "" || !s.allowed() {
		return time.Time{}
	}
	cur := s.eng.Status()
	key := statusKey{cur.AccountStatus, cur.Substatus}
	now := s.clock.Now()
	exempt := cur.AccountStatus == account.StatusGotQRCode
	if last, ok := s.gate.Last(); exempt && ok && last == key {
		return time.Time{}
	}
	if !exempt {
		ok, retry := s.gate.Offer(now, key)
		if !ok {
			return retry
		}
	}
	err := s.store.AddStatusEvent(ctx, chat.StatusEvent{AccountStatus: cur.AccountStatus, Substatus: cur.Substatus,
		Message: cur.Message, Time: now.Unix()})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("queueing a status webhook event", "error", err)
		}
		return time.Time{} // the next change tries again
	}
	if exempt {
		s.gate.Bypassed(key)
	} else {
		s.gate.Sent(now, key)
	}
	return time.Time{}
}
