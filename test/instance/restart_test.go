package instance_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/chaos/rig"
	"github.com/messenger-operator/messenger-operator/internal/testbin"
	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

// burst posts total texts "<prefix> NNNN" to 15550002222 from 8 concurrent senders, calling
// during(i) before send i; it returns the bodies accepted (200) and counts the refusals by status.
func burst(t *testing.T, inst *rig.Instance, prefix string, total int, during func(i int)) (map[string]bool, map[int]int) {
	t.Helper()
	ctx := context.Background()
	accepted, refused := map[string]bool{}, map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				body := fmt.Sprintf("%s %04d", prefix, i)
				code, _, _ := inst.SendText(ctx, "15550002222", body)
				mu.Lock()
				if code == 200 {
					accepted[body] = true
				} else {
					refused[code]++
				}
				mu.Unlock()
			}
		})
	}
	for i := range total {
		during(i)
		next <- i
	}
	close(next)
	wg.Wait()
	return accepted, refused
}

// checkPhoneOnce waits until the phone holds every accepted body and checks each is there once,
// by WhatsApp id, and that nothing refused arrived.
func checkPhoneOnce(t *testing.T, sb *rig.Sandbox, prefix string, accepted map[string]bool) {
	t.Helper()
	ctx := context.Background()
	var ids map[string]int
	var bodies map[string]int
	t.Cleanup(func() {
		if t.Failed() {
			var lost []string
			for b := range accepted {
				if bodies[b] == 0 {
					lost = append(lost, b)
				}
			}
			t.Logf("%d of %d accepted sends missing on the phone: %.300v", len(lost), len(accepted), lost)
		}
	})
	eventually(t, fmt.Sprintf("%d accepted sends on the phone", len(accepted)), func() bool {
		msgs, err := sb.Messages(ctx, "15550002222")
		if err != nil {
			return false
		}
		ids, bodies = map[string]int{}, map[string]int{}
		for _, m := range msgs {
			if !m.FromMe && len(m.Body) > len(prefix) && m.Body[:len(prefix)] == prefix {
				ids[m.ID]++
				bodies[m.Body]++
			}
		}
		n := 0
		for b := range accepted {
			if bodies[b] > 0 {
				n++
			}
		}
		return n == len(accepted)
	})
	for id, n := range ids {
		if n != 1 {
			t.Errorf("WhatsApp id %s is on the phone %d times", id, n)
		}
	}
	for b, n := range bodies {
		if n != 1 || !accepted[b] {
			t.Errorf("%q is on the phone %d times (accepted: %v)", b, n, accepted[b])
		}
	}
}

// startRig starts a sandbox process with a data dir, the phones, and one instance process
// (extra: more instance flags) paired to 15550001111.
func startRig(t *testing.T, extra ...string) (*rig.Sandbox, *rig.Instance) {
	t.Helper()
	ctx := context.Background()
	bin, dir := testbin.Path(t), t.TempDir()
	sb, err := rig.StartSandbox(ctx, bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Stop)
	for _, p := range []string{"15550001111", "15550002222"} {
		if err := sb.AddPhone(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	inst, err := rig.StartInstance(ctx, bin, dir+"/instance", sb.URL, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Stop)
	if err := inst.Pair(ctx, sb, "15550001111"); err != nil {
		t.Fatal(err)
	}
	return sb, inst
}

// The sandbox (a process of its own, persisting to --data-dir) restarted in the middle of a
// burst of sends: every accepted send reaches the phone once after it is back.
func TestSandboxRestartMidBurst(t *testing.T) {
	const total = 400
	sb, inst := startRig(t)
	ctx := context.Background()
	restarted := make(chan error, 1)
	accepted, refused := burst(t, inst, "sandbox restart", total, func(i int) {
		if i == total/2 {
			go func() { restarted <- sb.Restart(ctx) }()
		}
	})
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d accepted, refused by status: %v", len(accepted), refused)
	if len(accepted) != total {
		t.Errorf("the instance refused sends while the sandbox restarted: %v (it should queue them)", refused)
	}
	checkPhoneOnce(t, sb, "sandbox restart", accepted)
}

// PostgreSQL (a cluster of this test's own) restarted with pg_ctl restart -m fast in the middle
// of a burst: every accepted send reaches the phone exactly once; sends refused during the outage
// answered 503 and never arrive.
func TestPostgresRestartMidBurst(t *testing.T) {
	const total = 400
	pg, err := testpg.Start()
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(pg.Stop)
	sb, inst := startRig(t, "--database", pg.DSN("postgres"))
	restarted := make(chan error, 1)
	accepted, refused := burst(t, inst, "pg restart", total, func(i int) {
		if i == total/4 {
			go func() { restarted <- pg.Restart() }()
		}
		if i > total/4 && i%50 == 0 {
			time.Sleep(20 * time.Millisecond) // spread the rest of the burst over the outage
		}
	})
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d accepted, refused by status: %v", len(accepted), refused)
	for code := range refused {
		if code != 503 {
			t.Errorf("sends refused with %d during the restart, want 503: %v", code, refused)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			var q map[string]any
			_, err := rig.Call(context.Background(), "GET", inst.Base+"/showMessagesQueue", true, nil, &q)
			t.Logf("queue: %v %v\ninstance log: %s\nsandbox log: %s", q, err, rig.Tail(inst.Log(), 3000), rig.Tail(sb.Log(), 3000))
		}
	})
	// A send whose outcome could not be recorded during the outage is recorded once the
	// database is back (the engine retries the write): no restart is needed.
	checkPhoneOnce(t, sb, "pg restart", accepted)
	eventually(t, "sends accepted after the restart", func() bool {
		code, _, _ := inst.SendText(context.Background(), "15550002222", "pg after")
		return code == 200
	})
}
