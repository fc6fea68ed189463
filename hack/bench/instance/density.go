package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
)

// densityOptions are the flags of the density run (-density N).
type densityOptions struct {
	n, parallel int
	binary      string
	env         string // extra environment of every instance: K=V,K=V
	settle      time.Duration
	smapsDump   string // when set, the first instance's /proc/PID/smaps is copied there
}

// densityProc is one instance process of the density run.
type densityProc struct {
	cmd  *exec.Cmd
	base string
	done chan struct{}
}

const densityToken = "density-token"

var densityClient = &http.Client{Timeout: time.Minute}

// runDensity starts n idle instance processes of the binary against a sandbox child, pairs each
// with a phone of its own, waits settle, and reports the memory of each process from
// /proc/PID/smaps_rollup (Anonymous, Pss, Rss) and its goroutines and heap from /metrics.
func runDensity(o densityOptions) error {
	ctx := context.Background()
	bin, err := filepath.Abs(o.binary)
	if err != nil {
		return err
	}
	sb, url, err := benchutil.StartSandboxChild(ctx)
	if err != nil {
		return err
	}
	defer sb.Stop()
	dir, err := os.MkdirTemp("", "bench-density-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	fmt.Printf("density: %d instances of %s, env %q; load %s; %s\n", o.n, bin, o.env, benchutil.LoadAvg(),
		time.Now().UTC().Format(time.RFC3339))
	procs := make([]*densityProc, o.n)
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.stop()
			}
		}
	}()
	start := time.Now()
	if err := benchutil.Parallel(o.n, o.parallel, func(i int) error {
		p, err := startDensityProc(bin, url, filepath.Join(dir, strconv.Itoa(i)), o.env)
		if err != nil {
			return err
		}
		procs[i] = p
		return p.pair(ctx, url, fmt.Sprintf("4917%08d", i))
	}); err != nil {
		return err
	}
	fmt.Printf("all %d authenticated in %s; settling %s\n", o.n, time.Since(start).Round(time.Millisecond), o.settle)
	time.Sleep(o.settle)
	if o.smapsDump != "" {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", procs[0].cmd.Process.Pid))
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.smapsDump, b, 0o644); err != nil {
			return err
		}
	}
	return reportDensity(procs)
}

// reportDensity prints the mean, median and max of each figure over the processes.
func reportDensity(procs []*densityProc) error {
	fields := []string{"Anonymous", "Pss", "Rss"}
	vals := map[string][]float64{}
	for _, p := range procs {
		pid := p.cmd.Process.Pid
		for _, f := range fields {
			kib, err := benchutil.RollupKiB(pid, f)
			if err != nil {
				return err
			}
			vals[f] = append(vals[f], float64(kib)/1024)
		}
		m, err := p.metrics()
		if err != nil {
			return err
		}
		vals["goroutines"] = append(vals["goroutines"], m["go_goroutines"])
		vals["heap in use"] = append(vals["heap in use"], m["go_memstats_heap_inuse_bytes"]/(1<<20))
		vals["stacks"] = append(vals["stacks"], m["go_memstats_stack_inuse_bytes"]/(1<<20))
		vals["go metadata"] = append(vals["go metadata"], (m["go_memstats_mspan_sys_bytes"]+m["go_memstats_mcache_sys_bytes"]+
			m["go_memstats_gc_sys_bytes"]+m["go_memstats_other_sys_bytes"]+m["go_memstats_buck_hash_sys_bytes"])/(1<<20))
		br, n, err := anonBreakdown(pid)
		if err != nil {
			return err
		}
		for _, c := range anonClasses {
			vals[c] = append(vals[c], br[c])
		}
		vals["other maps"] = append(vals["other maps"], float64(n))
	}
	// go metadata is what the runtime mapped outside its arenas (sys, not all resident).
	for _, f := range append(fields, append(anonClasses, "other maps", "heap in use", "stacks", "go metadata", "goroutines")...) {
		v := slices.Clone(vals[f])
		slices.Sort(v)
		sum := 0.0
		for _, x := range v {
			sum += x
		}
		unit := " MiB"
		if f == "goroutines" || f == "other maps" {
			unit = ""
		}
		fmt.Printf("%-12s mean %.2f%s  median %.2f%s  max %.2f%s\n", f, sum/float64(len(v)), unit, v[len(v)/2], unit, v[len(v)-1], unit)
	}
	fmt.Printf("load %s\n", benchutil.LoadAvg())
	return nil
}

// startDensityProc execs one instance server on a free port.
func startDensityProc(bin, network, dataDir, env string) (*densityProc, error) {
	addr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	c := exec.Command(bin, "instance", "--listen", addr, "--data-dir", dataDir, "--token", densityToken, "--network-url", network)
	c.Env = os.Environ()
	for kv := range strings.SplitSeq(env, ",") {
		if kv != "" {
			c.Env = append(c.Env, kv)
		}
	}
	logFile, err := os.Create(dataDir + ".log")
	if err != nil {
		return nil, err
	}
	c.Stderr, c.Stdout = logFile, io.Discard
	if err := c.Start(); err != nil {
		_ = logFile.Close()
		return nil, err
	}
	p := &densityProc{cmd: c, base: "http://" + addr, done: make(chan struct{})}
	go func() { _ = c.Wait(); _ = logFile.Close(); close(p.done) }()
	return p, nil
}

func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// pair waits for the QR code, shows it to a new sandbox phone and waits until authenticated.
func (p *densityProc) pair(ctx context.Context, sandboxURL, phone string) error {
	if err := p.waitStatus(ctx, "got qr code"); err != nil {
		return err
	}
	qr, err := benchutil.RawQR(ctx, densityClient, p.base, densityToken)
	if err != nil {
		return err
	}
	if err := benchutil.CallJSON(ctx, densityClient, "POST", sandboxURL+"/sandbox/phones", "",
		map[string]string{"phone": phone, "name": "Density " + phone}, nil); err != nil {
		return err
	}
	if err := benchutil.CallJSON(ctx, densityClient, "POST", sandboxURL+"/sandbox/phones/"+phone+"/scan", "",
		map[string]string{"qr": qr}, nil); err != nil {
		return err
	}
	return p.waitStatus(ctx, "authenticated")
}

// waitStatus polls /status every 100 ms (for up to 3 minutes) until accountStatus is want.
func (p *densityProc) waitStatus(ctx context.Context, want string) error {
	deadline := time.Now().Add(3 * time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		var st struct {
			AccountStatus string `json:"accountStatus"`
		}
		if err := benchutil.CallJSON(ctx, densityClient, "GET", p.base+"/status", densityToken, nil, &st); err == nil {
			if st.AccountStatus == want {
				return nil
			}
			last = st.AccountStatus
		}
		select {
		case <-p.done:
			return fmt.Errorf("instance %s exited waiting for %q", p.base, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("instance %s: no %q within 3 minutes (last %q)", p.base, want, last)
}

// metrics reads the gauges of the instance's /metrics (untyped lines without labels).
func (p *densityProc) metrics() (map[string]float64, error) {
	resp, err := densityClient.Get(p.base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out, sc.Err()
}

func (p *densityProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
