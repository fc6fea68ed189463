package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
)

// Poll intervals of the start-up figure: they bound its resolution.
const (
	healthPoll = 2 * time.Millisecond
	statusPoll = 5 * time.Millisecond
)

// freshStartFigure starts the instance cfg.starts times on an empty data dir and times exec →
// first 200 from /healthz → /status "got qr code".
func freshStartFigure(ctx context.Context, cfg config, l launcher, work string) error {
	fmt.Printf("\n## Start-up, fresh data dir (%d runs, load %s)\n", cfg.starts, benchutil.LoadAvg())
	var health, qr []time.Duration
	for i := range cfg.starts {
		dir := filepath.Join(work, fmt.Sprintf("fresh-%d", i))
		h, s, err := timeStart(ctx, l, dir, "got qr code")
		if err != nil {
			return fmt.Errorf("fresh start %d: %w", i, err)
		}
		_ = os.RemoveAll(dir)
		health, qr = append(health, h), append(qr, s)
	}
	report("exec → /healthz 200", health)
	report("exec → /status \"got qr code\"", qr)
	return nil
}

// restartFigure restarts the instance cfg.starts times on a paired data dir and times exec →
// first 200 from /healthz → /status "authenticated".
func restartFigure(ctx context.Context, cfg config, l launcher, dir string) error {
	fmt.Printf("\n## Start-up, paired data dir (restart; %d runs, load %s)\n", cfg.starts, benchutil.LoadAvg())
	var health, auth []time.Duration
	for i := range cfg.starts {
		h, s, err := timeStart(ctx, l, dir, "authenticated")
		if err != nil {
			return fmt.Errorf("restart %d: %w", i, err)
		}
		health, auth = append(health, h), append(auth, s)
	}
	report("exec → /healthz 200", health)
	report("exec → /status \"authenticated\"", auth)
	return nil
}

// timeStart execs one instance, waits for /healthz and then for the account status, and stops it.
func timeStart(ctx context.Context, l launcher, dir, status string) (time.Duration, time.Duration, error) {
	p, err := l.start(dir)
	if err != nil {
		return 0, 0, err
	}
	defer p.stop()
	h, err := p.waitHealthz(ctx, healthPoll)
	if err != nil {
		return 0, 0, err
	}
	s, err := p.waitStatus(ctx, status, statusPoll)
	return h, s, err
}

func report(what string, ds []time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	var all []string
	for _, d := range ds {
		all = append(all, d.Round(100*time.Microsecond).String())
	}
	fmt.Printf("%-32s median %v (min %v, max %v; runs %v)\n", what, s[len(s)/2].Round(100*time.Microsecond),
		s[0].Round(100*time.Microsecond), s[len(s)-1].Round(100*time.Microsecond), all)
}

// memoryFigure reads the instance's resident memory right after pairing and after cfg.idle idle.
func memoryFigure(ctx context.Context, cfg config, p *instanceProc) error {
	pid := p.cmd.Process.Pid
	fmt.Printf("\n## Resident memory of one idle authenticated instance (SQLite store, load %s)\n", benchutil.LoadAvg())
	rss0, err := benchutil.StatusKiB(pid, "VmRSS")
	if err != nil {
		return err
	}
	fmt.Printf("VmRSS right after \"authenticated\": %d KiB (%.1f MiB)\n", rss0, float64(rss0)/1024)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(cfg.idle):
	}
	rss, err := benchutil.StatusKiB(pid, "VmRSS")
	if err != nil {
		return err
	}
	hwm, _ := benchutil.StatusKiB(pid, "VmHWM")
	anon, _ := benchutil.StatusKiB(pid, "RssAnon")
	file, _ := benchutil.StatusKiB(pid, "RssFile")
	fmt.Printf("VmRSS after %v idle: %d KiB (%.1f MiB) = RssAnon %d KiB + RssFile %d KiB (+ shmem); VmHWM %d KiB (%.1f MiB); load %s\n",
		cfg.idle, rss, float64(rss)/1024, anon, file, hwm, float64(hwm)/1024, benchutil.LoadAvg())
	if cfg.profileDir != "" {
		msg, err := p.signalChild(syscall.SIGUSR2)
		if err != nil {
			return err
		}
		fmt.Println(msg)
	}
	return nil
}
