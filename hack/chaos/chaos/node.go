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
