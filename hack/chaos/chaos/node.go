package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/chaos/rig"
)

// node is one instance with its account and what was sent through it.
type node struct {
	idx     int
	account string
	inst    *rig.Instance
	mu      sync.Mutex
	// accepted holds the bodies the instance accepted (200) for the peer; sentIn those the
	// sandbox accepted from the peer for the account; unanswered the sends that got no answer.
	accepted, sentIn map[string]bool
	unanswered       int
	refused          int
}

func (n *node) outPrefix() string { return fmt.Sprintf("chaos %d out ", n.idx) }
func (n *node) inPrefix() string  { return fmt.Sprintf("chaos %d in ", n.idx) }

// traffic sends one text each way per interval until ctx ends.
func (n *node) traffic(ctx context.Context, sb *rig.Sandbox, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		out := fmt.Sprintf("%s%06d", n.outPrefix(), i)
		code, _, _ := n.inst.SendText(ctx, peer, out)
		in := fmt.Sprintf("%s%06d", n.inPrefix(), i)
		inErr := sb.Send(ctx, peer, n.account, in)
		n.mu.Lock()
		switch {
		case code == 200:
			n.accepted[out] = true
		case code == 0:
			n.unanswered++
		default:
			n.refused++
		}
		if inErr == nil {
			n.sentIn[in] = true
		}
		n.mu.Unlock()
	}
}

// counts tells how often each wanted body was seen: once, more, never; and seen bodies not wanted.
func counts(want map[string]bool, seen map[string]int) (once, doubled, lost, extra int) {
	for b := range want {
		switch seen[b] {
		case 0:
			lost++
		case 1:
			once++
		default:
			doubled++
		}
	}
	for b, c := range seen {
		if !want[b] {
			extra++
			if c > 1 {
				doubled++
			}
		}
	}
	return
}

// seen reads what arrived: the peer's texts from this instance, the instance's texts from the peer.
func (n *node) seen(ctx context.Context, sb *rig.Sandbox) (out, in map[string]int, err error) {
	out, in = map[string]int{}, map[string]int{}
	msgs, err := sb.Messages(ctx, peer)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range msgs {
		if !m.FromMe && strings.HasPrefix(m.Body, n.outPrefix()) {
			out[m.Body]++
		}
	}
	journal, err := n.inst.Messages(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, m := range journal {
		if !m.FromMe && strings.HasPrefix(m.Body, n.inPrefix()) {
			in[m.Body]++
		}
	}
	return out, in, nil
}

// warmUp exchanges one text each way (not counted) before the traffic starts, so that the Signal
// sessions exist. First messages that cross are safe on their own now (TestCrossingFirstMessages),
// but without the warm-up two runs of TestChaosShort lost one text each ("old counter" on the
// phone after a sandbox restart, 2026-12-03): crossing under faults is a gap of its own.
func (n *node) warmUp(ctx context.Context, sb *rig.Sandbox) error {
	out, in := fmt.Sprintf("warm-up %d out", n.idx), fmt.Sprintf("warm-up %d in", n.idx)
	if _, _, err := n.inst.SendText(ctx, peer, out); err != nil {
		return err
	}
	err := rig.Until(ctx, "the warm-up text on the phone", time.Minute, 100*time.Millisecond, func() bool {
		msgs, err := sb.Messages(ctx, peer)
		for _, m := range msgs {
			if err == nil && m.Body == out {
				return true
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	if err := sb.Send(ctx, peer, n.account, in); err != nil {
		return err
	}
	return rig.Until(ctx, "the warm-up text in the journal", time.Minute, 100*time.Millisecond, func() bool {
		msgs, err := n.inst.Messages(ctx)
		for _, m := range msgs {
			if err == nil && m.Body == in {
				return true
			}
		}
		return false
	})
}
