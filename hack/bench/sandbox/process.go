package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// serve is the child side of -serve: a sandbox plus a control listener that switches a CPU
// profile on and off. It prints "<sandbox url> <control url>" and runs until stdin closes.
func serve() error {
	srv, err := sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		return fmt.Errorf("starting sandbox: %w", err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("control listener: %w", err)
	}
	var mu sync.Mutex
	var profile *os.File
	mux := http.NewServeMux()
	mux.HandleFunc("POST /profile/start", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if profile != nil {
			http.Error(w, "a profile is already running", http.StatusConflict)
			return
		}
		f, err := os.Create(r.URL.Query().Get("file"))
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		profile = f
	})
	mux.HandleFunc("POST /profile/stop", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if profile == nil {
			http.Error(w, "no profile is running", http.StatusConflict)
			return
		}
		pprof.StopCPUProfile()
		if err := profile.Close(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
		profile = nil
	})
	mux.HandleFunc("POST /heap", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		f, err := os.Create(r.URL.Query().Get("file"))
		if err == nil {
			err = errors.Join(pprof.WriteHeapProfile(f), f.Close())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	go func() { _ = http.Serve(ln, mux) }()
	fmt.Printf("%s http://%s\n", srv.URL(), ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // the parent holds our stdin; EOF means it is gone
	return nil
}

// sandboxProc is a sandbox running in a child process.
type sandboxProc struct {
	cmd     *exec.Cmd
	end     func() // ends a -serve child; nil for the messenger-operator binary
	url     string
	control string // empty for the messenger-operator binary
}

// startChild re-executes this program with -serve.
func startChild(ctx context.Context) (*sandboxProc, error) {
	child, line, err := benchutil.StartChild(ctx)
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(line)
	if len(fields) != 2 {
		child.Stop()
		return nil, fmt.Errorf("sandbox child did not announce its addresses (%q)", line)
	}
	return &sandboxProc{cmd: child.Cmd, end: child.Stop, url: fields[0], control: fields[1]}, nil
}

// startBinary runs `bin sandbox --listen 127.0.0.1:PORT` and waits until it answers.
func startBinary(ctx context.Context, bin string) (*sandboxProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.CommandContext(ctx, bin, "sandbox", "--listen", addr)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &sandboxProc{cmd: cmd, url: "http://" + addr}
	api := &adminAPI{url: p.url}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := api.call(ctx, "GET", "/sandbox/info", nil, nil); err == nil {
			return p, nil
		} else if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("sandbox binary never answered: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// buildBinary builds the messenger-operator binary into a temporary directory.
func buildBinary(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "sandbox-bench")
	if err != nil {
		return "", err
	}
	bin := dir + "/messenger-operator"
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build (run from the repository root): %w", err)
	}
	return bin, nil
}

func (p *sandboxProc) stop() {
	if p.end != nil {
		p.end()
		return
	}
	benchutil.StopProcess(p.cmd, nil)
}

// profile starts or stops the child's CPU profile ("start", "stop") or writes its heap
// profile after a GC ("heap").
func (p *sandboxProc) profile(ctx context.Context, action, file string) error {
	if p.control == "" {
		return errors.New("this sandbox process has no profile switch")
	}
	path := "/profile/" + action
	if action == "heap" {
		path = "/heap"
	}
	req, err := http.NewRequestWithContext(ctx, "POST", p.control+path+"?file="+url.QueryEscape(file), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile %s: %w", action, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("profile %s: %s: %s", action, resp.Status, msg)
	}
	return nil
}

// machine describes where the figures were taken.
func machine() string {
	mem, _ := benchutil.MemTotalKiB()
	return fmt.Sprintf("%d cores, %.0f GiB, %s", runtime.NumCPU(), float64(mem)/(1<<20), runtime.Version())
}
