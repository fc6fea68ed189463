package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
)

// senderPair is client a (linked to phone pa) writing to client b (linked to phone pb).
type senderPair struct {
	a, b   *client
	pa, pb string
}

// throughputFigure measures end-to-end text messages per second for each number of concurrent
// sender pairs, next to the Signal work alone for the same messages.
func throughputFigure(ctx context.Context, cfg config) error {
	fmt.Printf("\n## Messages per second, end to end (%d messages per pair, sandbox in its own process)\n", cfg.messages)
	for run, k := range cfg.pairs {
		if err := throughputRun(ctx, cfg, run, k); err != nil {
			return fmt.Errorf("%d pairs: %w", k, err)
		}
	}
	return nil
}

func throughputRun(ctx context.Context, cfg config, run, k int) error {
	sb, err := startChild(ctx)
	if err != nil {
		return err
	}
	defer sb.stop()
	api := &adminAPI{url: sb.url}
	pairs, err := setupPairs(ctx, api, sb.url, run, k)
	for _, p := range pairs {
		defer p.a.close()
		defer p.b.close()
	}
	if err != nil {
		return err
	}
	// Warm up: one message per pair fetches device lists and prekey bundles and starts sessions.
	if _, err := sendAll(ctx, pairs, 1, "warm-up"); err != nil {
		return err
	}
	profile := filepath.Join(cfg.profileDir, fmt.Sprintf("sandbox-cpu-%dpairs.pprof", k))
	if err := sb.profile(ctx, "start", profile); err != nil {
		return err
	}
	clientProfile := filepath.Join(cfg.profileDir, fmt.Sprintf("client-cpu-%dpairs.pprof", k))
	stopClientProfile, err := startSelfProfile(clientProfile)
	if err != nil {
		return err
	}
	sbCPU0, _ := benchutil.CPUTime(sb.cmd.Process.Pid)
	selfCPU0, _ := benchutil.CPUTime(os.Getpid())
	start := time.Now()
	timings, err := sendAll(ctx, pairs, cfg.messages, "bench")
	elapsed := time.Since(start)
	sbCPU1, _ := benchutil.CPUTime(sb.cmd.Process.Pid)
	selfCPU1, _ := benchutil.CPUTime(os.Getpid())
	if perr := errors.Join(sb.profile(ctx, "stop", ""), stopClientProfile()); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	drained, err := waitPhones(ctx, api, pairs, 1+cfg.messages)
	if err != nil {
		return err
	}
	total := k * cfg.messages
	rate := float64(total) / elapsed.Seconds()
	fmt.Printf("\n### %d sender pair(s): %d messages in %v → %.0f msg/s\n", k, total, elapsed.Round(time.Millisecond), rate)
	fmt.Printf("sandbox's simulated phones had decrypted their copies %v after the start\n", drained.Sub(start).Round(time.Millisecond))
	fmt.Printf("CPU during the run: sandbox process %v (%.0f µs/msg), client process %v (%.0f µs/msg), wall %v on %d cores\n",
		sbCPU1-sbCPU0, perMsg(sbCPU1-sbCPU0, total), selfCPU1-selfCPU0, perMsg(selfCPU1-selfCPU0, total), elapsed.Round(time.Millisecond), runtime.NumCPU())
	fmt.Printf("SendMessage mean %v: queue %v, devices %v, encrypt %v, send %v, wait for server ack %v\n",
		timings.total/time.Duration(total), timings.queue/time.Duration(total), timings.devices/time.Duration(total),
		timings.encrypt/time.Duration(total), timings.send/time.Duration(total), timings.resp/time.Duration(total))
	fmt.Printf("CPU profiles: sandbox %s, clients %s\n", profile, clientProfile)
	for _, c := range []struct {
		what              string
		peers, decrypting int
	}{{"1 encrypt + 1 decrypt per message", 1, 1}, {"the clients' own work: 3 encrypts (B's phone and companion, A's phone) + 1 decrypt", 3, 1}, {"the whole fan-out: 3 encrypts + 3 decrypts (incl. the sandbox phones')", 3, 3}} {
		crypto, cpu, err := bestCrypto(ctx, k, cfg.messages, c.peers, c.decrypting)
		if err != nil {
			return err
		}
		fmt.Printf("crypto only, %s, %d concurrent senders: %.0f msg/s (%.0f µs CPU/msg) → ratio sandbox/crypto %.3f\n",
			c.what, k, crypto, perMsg(cpu, total), rate/crypto)
	}
	return nil
}

func perMsg(d time.Duration, n int) float64 { return float64(d.Microseconds()) / float64(n) }

// setupPairs creates 2k phones and pairs a client to each.
func setupPairs(ctx context.Context, api *adminAPI, url string, run, k int) ([]*senderPair, error) {
	var pairs []*senderPair
	for i := range k {
		p := &senderPair{pa: fmt.Sprintf("15554%02d%03d1", run, i), pb: fmt.Sprintf("15554%02d%03d2", run, i)}
		for _, phone := range []string{p.pa, p.pb} {
			if err := api.addPhone(ctx, phone); err != nil {
				return pairs, err
			}
		}
		var err error
		if p.a, err = newClient(ctx, url); err != nil {
			return pairs, err
		}
		if p.b, err = newClient(ctx, url); err != nil {
			p.a.close()
			return pairs, err
		}
		pairs = append(pairs, p)
		if _, err := p.a.pair(ctx, api, p.pa); err != nil {
			return pairs, err
		}
		if _, err := p.b.pair(ctx, api, p.pb); err != nil {
			return pairs, err
		}
	}
	return pairs, nil
}

// sendTimings sums whatsmeow's per-send debug timings.
type sendTimings struct{ total, queue, devices, encrypt, send, resp time.Duration }

func (t *sendTimings) add(d time.Duration, dt whatsmeow.MessageDebugTimings) {
	t.total += d
	t.queue += dt.Queue
	t.devices += dt.GetDevices + dt.GetParticipants + dt.LIDFetch
	t.encrypt += dt.PeerEncrypt + dt.GroupEncrypt + dt.Marshal
	t.send += dt.Send
	t.resp += dt.Resp
}

// sendAll has every pair's a send n texts to b, concurrently across pairs, and returns once
// every b has received (decrypted) all of them.
func sendAll(ctx context.Context, pairs []*senderPair, n int, label string) (sendTimings, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var sum sendTimings
	errs := make([]error, len(pairs))
	var wg sync.WaitGroup
	for i, p := range pairs {
		p.b.expect(int64(n))
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := types.NewJID(p.pb, types.DefaultUserServer)
			for j := range n {
				t0 := time.Now()
				resp, err := p.a.cli.SendMessage(ctx, to, &waE2E.Message{Conversation: proto.String(fmt.Sprintf("%s %d", label, j))})
				if err != nil {
					errs[i] = fmt.Errorf("send %d: %w", j, err)
					return
				}
				mu.Lock()
				sum.add(time.Since(t0), resp.DebugTimings)
				mu.Unlock()
			}
			if err := wait(ctx, p.b.done, "receiver to decrypt everything"); err != nil {
				errs[i] = fmt.Errorf("%w (got %d of %d)", err, p.b.received.Load(), p.b.target.Load())
			}
		}()
	}
	wg.Wait()
	return sum, errors.Join(errs...)
}

// waitPhones waits until every simulated phone of the pairs holds `want` messages (B's phone
// receives each message, A's phone records the copy sent from its companion) and returns when.
func waitPhones(ctx context.Context, api *adminAPI, pairs []*senderPair, want int) (time.Time, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for _, p := range pairs {
		for _, phone := range []string{p.pa, p.pb} {
			for {
				n, err := api.phoneMessageCount(ctx, phone)
				if err != nil {
					return time.Time{}, err
				}
				if n >= want {
					break
				}
				if time.Now().After(deadline) {
					return time.Time{}, fmt.Errorf("phone %s has %d of %d messages", phone, n, want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	return time.Now(), nil
}

// startSelfProfile starts a CPU profile of this (the clients') process.
func startSelfProfile(file string) (func() error, error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("client CPU profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// bestCrypto runs cryptoThroughput three times (the machine is shared) and returns the best
// rate with the CPU time of that run.
func bestCrypto(ctx context.Context, pairs, messages, peers, decrypting int) (float64, time.Duration, error) {
	var best float64
	var bestCPU time.Duration
	for range 3 {
		cpu0, _ := benchutil.CPUTime(os.Getpid())
		rate, err := cryptoThroughput(ctx, pairs, messages, peers, decrypting)
		if err != nil {
			return 0, 0, err
		}
		cpu1, _ := benchutil.CPUTime(os.Getpid())
		if rate > best {
			best, bestCPU = rate, cpu1-cpu0
		}
	}
	return best, bestCPU, nil
}
