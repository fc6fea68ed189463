package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
)

// memoryFigure runs the messenger-operator binary's sandbox in its own process, links
// cfg.clients clients to cfg.phones phones, and reports the growth of the sandbox's RSS per
// connected idle client.
func memoryFigure(ctx context.Context, cfg config) error {
	sb, what, err := memorySandbox(ctx, cfg)
	if err != nil {
		return err
	}
	defer sb.stop()
	pid := sb.cmd.Process.Pid
	api := &adminAPI{url: sb.url}
	phones := make([]string, cfg.phones)
	for i := range phones {
		phones[i] = fmt.Sprintf("1555500%04d", i)
		if err := api.addPhone(ctx, phones[i]); err != nil {
			return err
		}
	}
	time.Sleep(2 * time.Second)
	before, err := benchutil.StatusKiB(pid, "VmRSS")
	if err != nil {
		return err
	}
	start := time.Now()
	clients, err := pairMany(ctx, api, sb.url, phones, cfg.clients, cfg.workers)
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	if err != nil {
		return err
	}
	pairing := time.Since(start)
	fmt.Printf("\n## Memory per connected idle client (%d clients on %d phones, %s in its own process)\n",
		cfg.clients, cfg.phones, what)
	fmt.Printf("pairing all clients took %v with %d concurrent pairings\n", pairing.Round(time.Second), cfg.workers)
	fmt.Printf("sandbox VmRSS before the clients (after %d phones): %d KiB\n", cfg.phones, before)
	for _, idle := range []time.Duration{10 * time.Second, 30 * time.Second} {
		time.Sleep(idle - time.Since(start.Add(pairing)))
		after, err := benchutil.StatusKiB(pid, "VmRSS")
		if err != nil {
			return err
		}
		online := 0
		for _, c := range clients {
			if c.cli.IsConnected() && c.cli.IsLoggedIn() {
				online++
			}
		}
		fmt.Printf("after %v idle: VmRSS %d KiB, %d of %d clients connected → %.0f KiB per client\n",
			idle, after, online, len(clients), float64(after-before)/float64(len(clients)))
	}
	hwm, _ := benchutil.StatusKiB(pid, "VmHWM")
	fmt.Printf("sandbox peak RSS (VmHWM): %d KiB\n", hwm)
	if sb.control != "" {
		heap := filepath.Join(cfg.profileDir, fmt.Sprintf("sandbox-heap-%dclients.pprof", len(clients)))
		if err := sb.profile(ctx, "heap", heap); err != nil {
			return err
		}
		fmt.Printf("sandbox heap profile (after a GC): %s\n", heap)
	}
	return nil
}

// memorySandbox starts the sandbox for the memory figure: the messenger-operator binary, or
// this program's -serve child (which can write a heap profile) when cfg.memoryChild is set.
func memorySandbox(ctx context.Context, cfg config) (*sandboxProc, string, error) {
	if cfg.memoryChild {
		sb, err := startChild(ctx)
		return sb, "this program's -serve child", err
	}
	bin := cfg.bin
	if bin == "" {
		var err error
		if bin, err = buildBinary(ctx); err != nil {
			return nil, "", err
		}
	}
	sb, err := startBinary(ctx, bin)
	return sb, "`" + bin + " sandbox`", err
}

// pairMany pairs n clients round-robin to phones, `workers` at a time.
func pairMany(ctx context.Context, api *adminAPI, url string, phones []string, n, workers int) ([]*client, error) {
	clients := make([]*client, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := newClient(ctx, url)
				if err == nil {
					clients[i] = c
					_, err = c.pair(ctx, api, phones[i%len(phones)])
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("client %d: %w", i, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	var made []*client
	for _, c := range clients {
		if c != nil {
			made = append(made, c)
		}
	}
	return made, firstErr
}
