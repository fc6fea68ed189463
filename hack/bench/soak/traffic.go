package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/chaos/rig"
)

// traffic sends one text each way per interval: the instance to the peer phone, the peer phone
// to the instance's account.
type traffic struct {
	inst                    *rig.Instance
	sb                      *rig.Sandbox
	account, peer           string
	sent, refused, received atomic.Int64
}

func (t *traffic) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if code, _, _ := t.inst.SendText(ctx, t.peer, fmt.Sprintf("soak out %d", n)); code == 200 {
			t.sent.Add(1)
		} else {
			t.refused.Add(1)
		}
		if err := t.sb.Send(ctx, t.peer, t.account, fmt.Sprintf("soak in %d", n)); err == nil {
			t.received.Add(1)
		}
	}
}
