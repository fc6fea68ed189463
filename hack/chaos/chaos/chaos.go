// Package chaos runs instance servers (the real binary) against a sandbox process with steady
// traffic both ways while injecting a random mix of faults, then checks that every accepted
// message was delivered exactly once. hack/chaos runs it for minutes; test/chaos for one.
package chaos

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/chaos/rig"
)

// Fault kinds beyond the sandbox's own (disconnect, stale, undecryptable, …).
const (
	KindKill           = "kill"            // kill -9 an instance and start it again
	KindSuspend        = "suspend"         // SIGSTOP an instance for a while, then SIGCONT
	KindSandboxRestart = "sandbox-restart" // restart the sandbox process (its data persists)
	KindNone           = "none"            // no fault: a baseline for the harness's counting
)

// DefaultKinds is the fault mix when none is given.
var DefaultKinds = []string{KindKill, KindSuspend, "disconnect", KindSandboxRestart}

// Config is one chaos run.
type Config struct {
	Bin       string        // messenger-operator binary
	Duration  time.Duration // how long faults are injected
	Instances int           // instance servers
	Kinds     []string      // fault kinds to pick from
	Every     time.Duration // a fault per interval
	Traffic   time.Duration // one message each way per instance per interval
	Settle    time.Duration // how long to wait for deliveries after the faults
	Out       io.Writer     // progress and the table
}

// Result counts a run's faults and messages.
type Result struct {
	Faults                    map[string]int
	Accepted, Once, Doubled   int
	Lost, UnansweredDelivered int
	Refused                   int
	// Missing describes the losses, per instance and direction.
	Missing []string
}

// OK reports whether nothing was lost or doubled.
func (r Result) OK() bool { return r.Lost == 0 && r.Doubled == 0 }

// Run runs the chaos for cfg and returns its counts.
func Run(ctx context.Context, cfg Config) (Result, error) {
	work, err := os.MkdirTemp("", "chaos")
	if err != nil {
		return Result{}, err
	}
	if os.Getenv("CHAOS_KEEP") == "" {
		defer os.RemoveAll(work)
	} else {
		fmt.Fprintf(cfg.Out, "logs and data kept in %s\n", work)
	}
	f, err := setUp(ctx, cfg, work)
	if err != nil {
		return Result{}, err
	}
	defer f.tearDown()
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, n := range f.nodes {
		wg.Go(func() { n.traffic(trafficCtx, f.sb, cfg.Traffic) })
	}
	res := Result{Faults: map[string]int{}}
	faultErr := f.inject(ctx, cfg, res.Faults)
	stopTraffic()
	wg.Wait()
	if faultErr != nil {
		return res, faultErr
	}
	if err := f.recover(ctx); err != nil {
		return res, err
	}
	fmt.Fprintf(cfg.Out, "faults over; waiting up to %s for deliveries\n", cfg.Settle)
	return f.tally(ctx, cfg, res)
}

// fleet is the sandbox and the instances of a run.
type fleet struct {
	sb    *rig.Sandbox
	nodes []*node
	rnd   *rand.Rand
}

// peer is the phone every instance talks to.
const peer = "15550009999"

func setUp(ctx context.Context, cfg Config, work string) (*fleet, error) {
	sb, err := rig.StartSandbox(ctx, cfg.Bin, work)
	if err != nil {
		return nil, err
	}
	f := &fleet{sb: sb, rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))}
	if err := sb.AddPhone(ctx, peer); err != nil {
		f.tearDown()
		return nil, err
	}
	for i := range cfg.Instances {
		n := &node{idx: i, account: fmt.Sprintf("155500010%02d", i), accepted: map[string]bool{}, sentIn: map[string]bool{}}
		if err := sb.AddPhone(ctx, n.account); err != nil {
			f.tearDown()
			return nil, err
		}
		if n.inst, err = rig.StartInstance(ctx, cfg.Bin, filepath.Join(work, fmt.Sprintf("instance-%d", i)), sb.URL); err == nil {
			err = n.inst.Pair(ctx, sb, n.account)
		}
		if n.inst != nil {
			f.nodes = append(f.nodes, n)
		}
		if err != nil {
			f.tearDown()
			return nil, fmt.Errorf("instance %d: %w", i, err)
		}
	}
	fmt.Fprintf(cfg.Out, "%d instances paired; injecting %v every %s for %s\n", cfg.Instances, cfg.Kinds, cfg.Every, cfg.Duration)
	return f, nil
}

func (f *fleet) tearDown() {
	for _, n := range f.nodes {
		n.inst.Stop()
	}
	f.sb.Stop()
}

// inject picks a random fault every cfg.Every until cfg.Duration is over.
func (f *fleet) inject(ctx context.Context, cfg Config, counts map[string]int) error {
	end := time.Now().Add(cfg.Duration)
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.Every):
		}
		kind := cfg.Kinds[f.rnd.IntN(len(cfg.Kinds))]
		n := f.nodes[f.rnd.IntN(len(f.nodes))]
		if err := f.fault(ctx, kind, n); err != nil {
			return fmt.Errorf("fault %s on instance %d: %w", kind, n.idx, err)
		}
		counts[kind]++
	}
	return nil
}

// fault injects one fault of kind (on node n where it concerns one instance).
func (f *fleet) fault(ctx context.Context, kind string, n *node) error {
	switch kind {
	case KindKill:
		n.inst.Kill9()
		return n.inst.Start(ctx)
	case KindSuspend:
		if err := n.inst.Suspend(); err != nil {
			return err
		}
		time.Sleep(time.Duration(1+f.rnd.IntN(5)) * time.Second)
		return n.inst.Resume()
	case KindSandboxRestart:
		return f.sb.Restart(ctx)
	case KindNone:
		return nil
	default:
		return f.sb.Fault(ctx, n.account, kind)
	}
}

// recover clears lasting sandbox faults and waits until every instance is authenticated.
func (f *fleet) recover(ctx context.Context) error {
	for _, n := range f.nodes {
		_ = f.sb.Fault(ctx, n.account, "clear")
		if err := n.inst.WaitAuthenticated(ctx); err != nil {
			return fmt.Errorf("instance %d after the faults: %w (log %s)", n.idx, err, n.inst.Log())
		}
	}
	return nil
}
