package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// token is the API token of the instance the benchmark starts.
const token = "bench-token"

var httpClient = &http.Client{Timeout: 2 * time.Minute}

// sandboxProc is the sandbox child process and its admin API.
type sandboxProc struct {
	child *benchutil.Child
	url   string
}

func startSandbox(ctx context.Context) (*sandboxProc, error) {
	child, url, err := benchutil.StartSandboxChild(ctx)
	if err != nil {
		return nil, err
	}
	return &sandboxProc{child: child, url: url}, nil
}

func (s *sandboxProc) stop() { s.child.Stop() }

func (s *sandboxProc) call(ctx context.Context, method, path string, body, out any) error {
	return benchutil.CallJSON(ctx, httpClient, method, s.url+path, "", body, out)
}

func (s *sandboxProc) addPhone(ctx context.Context, phone, name string) error {
	return s.call(ctx, "POST", "/sandbox/phones", map[string]string{"phone": phone, "name": name}, nil)
}

// messages is the phone's list as GET /sandbox/phones/{phone}/messages shows it.
func (s *sandboxProc) messages(ctx context.Context, phone string) ([]sandbox.PhoneMessage, error) {
	var out struct {
		Messages []sandbox.PhoneMessage `json:"messages"`
	}
	err := s.call(ctx, "GET", "/sandbox/phones/"+phone+"/messages", nil, &out)
	return out.Messages, err
}

// instanceProc is the instance server under test.
type instanceProc struct {
	cmd     *exec.Cmd
	base    string
	logPath string
	exited  chan struct{}
}

// startInstance execs `messenger-operator instance` against the sandbox on a fresh data dir; its
// log goes to a file that outlives the run.
func startInstance(bin, network, work string) (*instanceProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	logPath := filepath.Join(os.TempDir(), "bench-kinds-instance.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	c := exec.Command(bin, "instance", "--listen", addr, "--data-dir", filepath.Join(work, "instance"),
		"--token", token, "--network-url", network)
	c.Stdout, c.Stderr = logFile, logFile
	if err := c.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting the instance: %w", err)
	}
	p := &instanceProc{cmd: c, base: "http://" + addr, logPath: logPath, exited: make(chan struct{})}
	go func() {
		_ = c.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *instanceProc) stop() { benchutil.StopProcess(p.cmd, nil) }

// call posts to (or gets from) the instance's API with the token.
func (p *instanceProc) call(ctx context.Context, method, path string, body, out any) error {
	return benchutil.CallJSON(ctx, httpClient, method, p.base+path, token, body, out)
}

// waitStatus polls /status until accountStatus is want, for at most a minute.
func (p *instanceProc) waitStatus(ctx context.Context, want string) error {
	deadline := time.Now().Add(time.Minute)
	last := ""
	for {
		var st struct {
			AccountStatus string `json:"accountStatus"`
		}
		if err := p.call(ctx, "GET", "/status", nil, &st); err == nil {
			if st.AccountStatus == want {
				return nil
			}
			last = st.AccountStatus
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited a minute for status %q (last %q)", want, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.exited:
			return fmt.Errorf("the instance exited while waiting for status %q", want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pair shows the instance's QR code to a sandbox phone and waits until it is authenticated.
func (p *instanceProc) pair(ctx context.Context, sb *sandboxProc, phone string) error {
	if err := p.waitStatus(ctx, "got qr code"); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", p.base+"/qr_code?format=raw&token="+token, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the QR code: %w", err)
	}
	qr, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching the QR code: %s %v", resp.Status, err)
	}
	if err := sb.call(ctx, "POST", "/sandbox/phones/"+phone+"/scan", map[string]string{"qr": string(qr)}, nil); err != nil {
		return err
	}
	return p.waitStatus(ctx, "authenticated")
}

// buildBinary builds messenger-operator as `make build` does (run from the repository root).
func buildBinary(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "messenger-operator")
	c := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	c.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("go build (run from the repository root): %w", err)
	}
	return bin, nil
}
