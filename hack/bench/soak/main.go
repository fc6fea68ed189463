// Command soak measures the instance server's memory over a long run with steady traffic both
// ways: the resident set size (VmRSS) of the instance process is sampled while it sends texts to
// a sandbox phone and receives texts from it, and the slope of a least-squares line through the
// samples after the warm-up is printed in KiB per minute (≈ 0 when nothing leaks).
//
//	go run ./hack/bench/soak -bin bin/messenger-operator -duration 30m
//
// The sandbox and the instance are the built binary, each in a process of its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/hack/chaos/rig"
)

// config holds the command-line flags.
type config struct {
	bin              string
	duration, warmup time.Duration
	every, sample    time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.bin, "bin", "bin/messenger-operator", "messenger-operator binary (make build)")
	flag.DurationVar(&cfg.duration, "duration", 30*time.Minute, "length of the soak")
	flag.DurationVar(&cfg.warmup, "warmup", 5*time.Minute, "samples of the first part are left out of the slope")
	flag.DurationVar(&cfg.every, "every", 100*time.Millisecond, "one message each way per interval")
	flag.DurationVar(&cfg.sample, "sample", 15*time.Second, "how often VmRSS is read")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		slog.Error("soak failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	work, err := os.MkdirTemp("", "soak")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	host, _ := os.Hostname()
	fmt.Printf("# soak, %s, %s, %d cores, %s, load %s, %s, one message each way every %s\n",
		time.Now().UTC().Format(time.RFC3339), host, runtime.NumCPU(), runtime.Version(), benchutil.LoadAvg(), cfg.duration, cfg.every)
	sb, err := rig.StartSandbox(ctx, cfg.bin, work)
	if err != nil {
		return err
	}
	defer sb.Stop()
	const account, peer = "15550000001", "15550000002"
	for _, p := range []string{account, peer} {
		if err := sb.AddPhone(ctx, p); err != nil {
			return err
		}
	}
	inst, err := rig.StartInstance(ctx, cfg.bin, work+"/instance", sb.URL)
	if err != nil {
		return err
	}
	defer inst.Stop()
	if err := inst.Pair(ctx, sb, account); err != nil {
		return err
	}
	tr := &traffic{inst: inst, sb: sb, account: account, peer: peer}
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { tr.run(trafficCtx, cfg.every); close(done) }()
	samples, err := sampleRSS(ctx, inst, cfg)
	stopTraffic()
	<-done
	if err != nil {
		return err
	}
	report(cfg, samples, tr)
	return nil
}

// sample is one VmRSS reading and the Go figures, minutes since the start.
type sample struct {
	min  float64
	kib  int64              // VmRSS
	anon int64              // RssAnon: the process's own memory
	file int64              // RssFile: pages of the binary and files, shared and reclaimable
	goF  map[string]float64 // the Go figures from /metrics
}

// sampleRSS reads the process's VmRSS (and its Go figures) every cfg.sample for cfg.duration.
func sampleRSS(ctx context.Context, inst *rig.Instance, cfg config) ([]sample, error) {
	pid := inst.PID()
	start := time.Now()
	var out []sample
	tick := time.NewTicker(cfg.sample)
	defer tick.Stop()
	for time.Since(start) < cfg.duration {
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-tick.C:
		}
		kib, err := benchutil.StatusKiB(pid, "VmRSS")
		if err != nil {
			return out, fmt.Errorf("reading the instance's VmRSS: %w", err)
		}
		s := sample{min: time.Since(start).Minutes(), kib: kib}
		if s.anon, err = benchutil.StatusKiB(pid, "RssAnon"); err != nil {
			return out, fmt.Errorf("reading the instance's RssAnon: %w", err)
		}
		if s.file, err = benchutil.StatusKiB(pid, "RssFile"); err != nil {
			return out, fmt.Errorf("reading the instance's RssFile: %w", err)
		}
		s.goF, _ = readGoFigures(ctx, inst)
		out = append(out, s)
		if len(out)%8 == 0 {
			fmt.Printf("%6.1f min  VmRSS %d KiB (anon %d, file %d)  goroutines %.0f  heap in use %.0f KiB  heap objects %.0f\n", s.min, s.kib, s.anon, s.file,
				s.goF["go_goroutines"], s.goF["go_memstats_heap_inuse_bytes"]/1024, s.goF["go_memstats_heap_objects"])
		}
	}
	return out, nil
}

// report prints the slope of the samples after the warm-up and the traffic counts.
func report(cfg config, samples []sample, tr *traffic) {
	var kept []sample
	for _, s := range samples {
		if s.min >= cfg.warmup.Minutes() {
			kept = append(kept, s)
		}
	}
	slope := slopeOf(kept, rss)
	minK, maxK := int64(1<<62), int64(0)
	for _, s := range kept {
		minK, maxK = min(minK, s.kib), max(maxK, s.kib)
	}
	fmt.Printf("samples %d (after %s warm-up), VmRSS min %d KiB, max %d KiB, slope %.1f KiB/min\n",
		len(kept), cfg.warmup, minK, maxK, slope)
	if end := samples[len(samples)-1].min; end >= 20 {
		first := window(samples, 0, 10)
		last := window(samples, end-10, end)
		fmt.Printf("VmRSS slope, first 10 min %.1f KiB/min, last 10 min %.1f KiB/min\n", slopeOf(first, rss), slopeOf(last, rss))
		fmt.Printf("RssAnon slope, first 10 min %.1f KiB/min, last 10 min %.1f KiB/min\n", slopeOf(first, anon), slopeOf(last, anon))
	}
	fmt.Printf("slopes after the warm-up: RssAnon %.1f KiB/min, RssFile %.1f KiB/min\n", slopeOf(kept, anon), slopeOf(kept, file))
	fmt.Printf("slopes after the warm-up: goroutines %.2f /min, heap in use %.1f KiB/min, heap objects %.0f /min\n",
		slopeOf(kept, goFigure("go_goroutines", 1)), slopeOf(kept, goFigure("go_memstats_heap_inuse_bytes", 1024)),
		slopeOf(kept, goFigure("go_memstats_heap_objects", 1)))
	fmt.Printf("traffic: %d sends accepted (%d refused), %d texts from the phone\n", tr.sent.Load(), tr.refused.Load(), tr.received.Load())
}

// window is the samples from minute a to minute b.
func window(s []sample, a, b float64) []sample {
	var out []sample
	for _, p := range s {
		if p.min >= a && p.min <= b {
			out = append(out, p)
		}
	}
	return out
}

func rss(s sample) float64  { return float64(s.kib) }
func anon(s sample) float64 { return float64(s.anon) }
func file(s sample) float64 { return float64(s.file) }

// goFigure reads a Go figure of a sample, divided by unit.
func goFigure(name string, unit float64) func(sample) float64 {
	return func(s sample) float64 { return s.goF[name] / unit }
}

// slopeOf is the least-squares slope of y over minutes.
func slopeOf(s []sample, y func(sample) float64) float64 {
	if len(s) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, p := range s {
		x, y := p.min, y(p)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(s))
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
