package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/messenger-operator/messenger-operator/cmd"
	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
)

// token is the API token of every instance the benchmark starts.
const token = "bench-token"

// launcher starts instance server processes: the built binary, or (with a profile directory)
// this program re-executed with -instance, which runs the same cobra command in-process and
// switches a CPU profile on and off on SIGUSR1.
type launcher struct {
	bin, network, profileDir string
	database                 string // --database (empty: SQLite in the data dir)
}

// instanceProc is one running instance server.
type instanceProc struct {
	cmd     *exec.Cmd
	base    string
	started time.Time
	lines   chan string // the process's stdout, line by line
	exited  chan struct{}
}

// start execs an instance server on dataDir; started is taken right before the exec.
func (l launcher) start(dataDir string) (*instanceProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"instance", "--listen", addr, "--data-dir", dataDir, "--token", token, "--network-url", l.network,
		"--webhook-allow-networks", "127.0.0.0/8"} // the latency figure's ack receiver
	if l.database != "" {
		args = append(args, "--database", l.database)
	}
	var c *exec.Cmd
	if l.profileDir != "" {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		c = exec.Command(self, append([]string{"-instance", l.profileDir}, args...)...)
	} else {
		c = exec.Command(l.bin, args...)
	}
	logFile, err := os.OpenFile(dataDir+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	c.Stderr = logFile
	out, err := c.StdoutPipe()
	if err != nil {
		_ = logFile.Close()
		return nil, err
	}
	p := &instanceProc{cmd: c, base: "http://" + addr, lines: make(chan string, 16), exited: make(chan struct{})}
	p.started = time.Now()
	if err := c.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting the instance: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		_ = c.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// pollClient never reuses a connection across polls that found the server down.
var pollClient = &http.Client{Timeout: 5 * time.Second}

// waitHealthz polls /healthz every poll until it answers 200 and returns the time since exec.
func (p *instanceProc) waitHealthz(ctx context.Context, poll time.Duration) (time.Duration, error) {
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", p.base+"/healthz", nil)
		if resp, err := pollClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(p.started), nil
			}
		}
		if err := p.pause(ctx, poll, "/healthz to answer 200"); err != nil {
			return 0, err
		}
	}
}

// waitStatus polls /status every poll until accountStatus is want and returns the time since exec.
func (p *instanceProc) waitStatus(ctx context.Context, want string, poll time.Duration) (time.Duration, error) {
	last := ""
	for {
		var st struct {
			AccountStatus string `json:"accountStatus"`
		}
		if err := callJSON(ctx, "GET", p.base+"/status", token, nil, &st); err == nil {
			if st.AccountStatus == want {
				return time.Since(p.started), nil
			}
			last = st.AccountStatus
		}
		if err := p.pause(ctx, poll, fmt.Sprintf("status %q (last %q)", want, last)); err != nil {
			return 0, err
		}
	}
}

// pause sleeps for d, failing when the process exited, ctx ended or a minute has passed since exec.
func (p *instanceProc) pause(ctx context.Context, d time.Duration, what string) error {
	if time.Since(p.started) > time.Minute {
		return fmt.Errorf("waited a minute for %s", what)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-p.exited:
		return fmt.Errorf("the instance exited while waiting for %s (see its log)", what)
	case <-time.After(d):
		return nil
	}
}

// pair shows the instance's QR code to a sandbox phone and waits until it is authenticated.
func (p *instanceProc) pair(ctx context.Context, api adminAPI, phone string) error {
	if _, err := p.waitStatus(ctx, "got qr code", 50*time.Millisecond); err != nil {
		return err
	}
	qr, err := benchutil.RawQR(ctx, httpClient, p.base, token)
	if err != nil {
		return err
	}
	if err := api.scan(ctx, phone, qr); err != nil {
		return err
	}
	_, err = p.waitStatus(ctx, "authenticated", 50*time.Millisecond)
	return err
}

// stop asks the instance to shut down (SIGTERM) and kills it after 30 s.
func (p *instanceProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// toggleProfile starts or stops the CPU profile of an -instance child and waits for its answer.
func (p *instanceProc) toggleProfile() (string, error) { return p.signalChild(syscall.SIGUSR1) }

// signalChild sends sig to an -instance child and waits for its "profile …" answer.
func (p *instanceProc) signalChild(sig os.Signal) (string, error) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return "", err
	}
	for {
		select {
		case line := <-p.lines:
			if s, ok := strings.CutPrefix(line, "profile "); ok {
				return s, nil
			}
		case <-time.After(10 * time.Second):
			return "", errors.New("the instance child did not answer the signal (is it an -instance child?)")
		}
	}
}

// runInstanceChild is the -instance side: the instance command in this process, with a CPU
// profile and an execution trace (for off-CPU time: `go tool trace -pprof=sync|syscall|net`)
// started by the first SIGUSR1, written by the second, and so on.
func runInstanceChild(args []string) error {
	if len(args) < 1 {
		return errors.New("-instance PROFILE_DIR instance FLAGS…")
	}
	dir := args[0]
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		var f, tf *os.File
		n := 0
		for range sig {
			if f == nil {
				n++
				var err, terr error
				name := filepath.Join(dir, "instance-cpu-"+strconv.Itoa(n)+".pprof")
				if f, err = os.Create(name); err == nil {
					err = pprof.StartCPUProfile(f)
				}
				if tf, terr = os.Create(filepath.Join(dir, "instance-trace-"+strconv.Itoa(n)+".out")); terr == nil {
					terr = trace.Start(tf)
				}
				fmt.Printf("profile started %s %v\n", name, errors.Join(err, terr))
				continue
			}
			pprof.StopCPUProfile()
			trace.Stop()
			fmt.Printf("profile written %s %v\n", f.Name(), errors.Join(f.Close(), tf.Close()))
			f = nil
		}
	}()
	go heapOnSignal(dir)
	root := cmd.Root()
	root.SetArgs(args[1:])
	return root.Execute()
}

// heapOnSignal writes a heap profile and prints the runtime's memory statistics on each SIGUSR2.
func heapOnSignal(dir string) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR2)
	for range sig {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		name := filepath.Join(dir, "instance-heap.pprof")
		f, err := os.Create(name)
		if err == nil {
			err = errors.Join(pprof.WriteHeapProfile(f), f.Close())
		}
		fmt.Printf("profile heap %s %v; Go runtime: Sys %d KiB, HeapInuse %d KiB, HeapIdle %d KiB (released %d KiB), "+
			"StackInuse %d KiB, other (mspan, mcache, GC, buckets, other) %d KiB, %d goroutines\n",
			name, err, m.Sys>>10, m.HeapInuse>>10, m.HeapIdle>>10, m.HeapReleased>>10, m.StackInuse>>10,
			(m.MSpanSys+m.MCacheSys+m.GCSys+m.BuckHashSys+m.OtherSys)>>10, runtime.NumGoroutine())
	}
}
