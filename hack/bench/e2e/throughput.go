package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
)

// burst is one timed run of n messages to a phone.
type burst struct {
	rate      float64       // messages per second, start → all on the receiving phone
	elapsed   time.Duration // start → all on the receiving phone
	accepted  time.Duration // instance only: start → every POST answered
	dups      int           // messages the phone received more than once
	senderCPU time.Duration // instance process, or this process for the baseline
	benchCPU  time.Duration // this process (HTTP clients, polling; the baseline client itself)
	sbCPU     time.Duration // sandbox process
}

// rig is what the throughput figure runs on.
type rig struct {
	cfg  config
	sb   *sandboxProc
	inst *instanceProc
	base *baseline
}

// throughputFigure runs cfg.rounds rounds; each round sends cfg.messages texts to a fresh phone
// through the instance and through the baseline client, alternating which goes first.
func throughputFigure(ctx context.Context, r rig) error {
	fmt.Printf("\n## Messages per second delivered end to end (%d messages per burst, load %s)\n", r.cfg.messages, benchutil.LoadAvg())
	fmt.Printf("instance: %d concurrent POST /sendMessage clients; baseline: sequential whatsmeow SendMessage; receiving phone polled every %v\n",
		r.cfg.clients, r.cfg.poll)
	var inst, base []burst
	var ratios []float64
	for round := 1; round <= r.cfg.rounds; round++ {
		phone := fmt.Sprintf("155590%05d", round)
		if err := r.sb.api.addPhone(ctx, phone, fmt.Sprintf("Receiver %d", round)); err != nil {
			return err
		}
		if err := r.warmUp(ctx, phone, round); err != nil {
			return fmt.Errorf("round %d warm-up: %w", round, err)
		}
		order := []string{"instance", "baseline"}
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, who := range order {
			time.Sleep(2 * time.Second) // let the previous burst's receipts settle
			b, err := r.timedBurst(ctx, who, phone, round)
			if err != nil {
				return fmt.Errorf("round %d %s: %w", round, who, err)
			}
			if who == "instance" {
				inst = append(inst, b)
			} else {
				base = append(base, b)
			}
			fmt.Printf("round %d %-8s: %.0f msg/s (%v; POSTs answered after %v; duplicates %d; CPU/msg: sender %.0f µs, bench process %.0f µs, sandbox %.0f µs; load %s)\n",
				round, who, b.rate, b.elapsed.Round(time.Millisecond), b.accepted.Round(time.Millisecond), b.dups,
				perMsg(b.senderCPU, r.cfg.messages), perMsg(b.benchCPU, r.cfg.messages), perMsg(b.sbCPU, r.cfg.messages), benchutil.LoadAvg())
		}
		ratios = append(ratios, inst[len(inst)-1].rate/base[len(base)-1].rate)
		fmt.Printf("round %d ratio instance/baseline: %.2f\n", round, ratios[len(ratios)-1])
	}
	mi, mb := medianRate(inst), medianRate(base)
	fmt.Printf("median: instance %.0f msg/s, baseline %.0f msg/s (ratio of the medians %.2f); median of the round ratios %.2f\n",
		mi, mb, mi/mb, median(ratios))
	return nil
}

// warmUp sends one message each way to a new receiver (device lists, prekeys, sessions).
func (r rig) warmUp(ctx context.Context, phone string, round int) error {
	prefix := fmt.Sprintf("warm-r%d ", round)
	if err := r.postAll(ctx, phone, prefix+"inst", 1); err != nil {
		return err
	}
	if err := r.base.send(ctx, phone, prefix+"base", 1); err != nil {
		return err
	}
	_, _, err := r.sb.api.waitReceived(ctx, phone, prefix, 2, r.cfg.poll)
	return err
}

func (r rig) timedBurst(ctx context.Context, who, phone string, round int) (burst, error) {
	prefix := fmt.Sprintf("%s-r%d ", who, round)
	self, sbPID := os.Getpid(), r.sb.child.Cmd.Process.Pid
	sender := self
	if who == "instance" {
		sender = r.inst.cmd.Process.Pid
	}
	stopProfile, err := r.startProfile(who, round)
	if err != nil {
		return burst{}, err
	}
	cpuS, cpuB, cpuSb := cpuTime(sender), cpuTime(self), cpuTime(sbPID)
	var b burst
	start := time.Now()
	sendErr := make(chan error, 1)
	go func() {
		if who == "instance" {
			e := r.postAll(ctx, phone, prefix, r.cfg.messages)
			b.accepted = time.Since(start)
			sendErr <- e
			return
		}
		sendErr <- r.base.send(ctx, phone, prefix, r.cfg.messages)
	}()
	done, dups, err := r.sb.api.waitReceived(ctx, phone, prefix, r.cfg.messages, r.cfg.poll)
	err = errors.Join(err, <-sendErr)
	b.senderCPU, b.benchCPU, b.sbCPU = cpuTime(sender)-cpuS, cpuTime(self)-cpuB, cpuTime(sbPID)-cpuSb
	err = errors.Join(err, stopProfile())
	if err != nil {
		return b, err
	}
	b.elapsed, b.dups = done.Sub(start), dups
	b.rate = float64(r.cfg.messages) / b.elapsed.Seconds()
	return b, nil
}

// startProfile profiles the sender during a burst when -cpuprofile is set (a CPU profile and an
// execution trace): the instance child through its signal switch, the baseline client in this
// process. Stopping prints where the sending goroutines' wall time went.
func (r rig) startProfile(who string, round int) (func() error, error) {
	if r.cfg.profileDir == "" {
		return func() error { return nil }, nil
	}
	if who == "instance" {
		msg, err := r.inst.toggleProfile()
		if err != nil {
			return nil, err
		}
		fmt.Printf("instance %s\n", msg)
		return func() error {
			msg, err := r.inst.toggleProfile()
			fmt.Printf("instance %s\n", msg)
			if err != nil {
				return err
			}
			return r.reportTrace(fmt.Sprintf("instance-trace-%d.out", round), []string{
				"instance/engine.(*Engine).drainLoop", "instance/store.(*Store).writer"})
		}, nil
	}
	name := filepath.Join(r.cfg.profileDir, fmt.Sprintf("baseline-cpu-%d.pprof", round))
	traceName := fmt.Sprintf("baseline-trace-%d.out", round)
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	tf, err := os.Create(filepath.Join(r.cfg.profileDir, traceName))
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := errors.Join(pprof.StartCPUProfile(f), trace.Start(tf)); err != nil {
		_, _ = f.Close(), tf.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		trace.Stop()
		fmt.Printf("baseline profile written %s\n", name)
		if err := errors.Join(f.Close(), tf.Close()); err != nil {
			return err
		}
		return r.reportTrace(traceName, []string{"main.(*baseline).send"})
	}, nil
}

// reportTrace prints the wall-time breakdown of the goroutines running each of fns.
func (r rig) reportTrace(name string, fns []string) error {
	for _, fn := range fns {
		sum, err := wallBreakdown(filepath.Join(r.cfg.profileDir, name), fn)
		if err != nil {
			return err
		}
		printBreakdown("wall time of the goroutine(s) running "+fn, sum, r.cfg.messages)
	}
	return nil
}

// postAll sends n POST /sendMessage "<prefix><i>" to phone from cfg.clients concurrent clients.
func (r rig) postAll(ctx context.Context, phone, prefix string, n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, r.cfg.clients)
	for c := range r.cfg.clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				var out struct {
					Sent bool `json:"sent"`
				}
				body := map[string]string{"phone": phone, "body": fmt.Sprintf("%s%d", prefix, i)}
				if err := callJSON(ctx, "POST", r.inst.base+"/sendMessage", token, body, &out); err != nil {
					errs[c] = err
					return
				}
				if !out.Sent {
					errs[c] = fmt.Errorf("sendMessage %d not accepted", i)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func perMsg(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }

func medianRate(bs []burst) float64 {
	rates := make([]float64, len(bs))
	for i, b := range bs {
		rates[i] = b.rate
	}
	return median(rates)
}

func median(xs []float64) float64 {
	rates := slices.Clone(xs)
	slices.Sort(rates)
	if len(rates)%2 == 1 {
		return rates[len(rates)/2]
	}
	return (rates[len(rates)/2-1] + rates[len(rates)/2]) / 2
}

// cpuTime is the user+system CPU time a process has used so far (0 when unknown).
func cpuTime(pid int) time.Duration {
	d, _ := benchutil.CPUTime(pid)
	return d
}
