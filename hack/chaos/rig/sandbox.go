package rig

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// Sandbox is a `messenger-operator sandbox` process persisting to a data dir, so it can be
// restarted with its accounts.
type Sandbox struct {
	p   process
	URL string
}

// StartSandbox runs the sandbox on a free port with its data in dir and waits until it serves.
func StartSandbox(ctx context.Context, bin, dir string) (*Sandbox, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &Sandbox{URL: "http://" + addr, p: process{bin: bin, log: filepath.Join(dir, "sandbox.log"),
		args: []string{"sandbox", "--listen", addr, "--data-dir", filepath.Join(dir, "sandbox"),
			// every message of a long run is counted on the phones: none may be forgotten
			"--phone-messages", "10000000"}}}
	return s, s.Start(ctx)
}

// Start starts the (stopped) sandbox and waits until it answers.
func (s *Sandbox) Start(ctx context.Context) error {
	if err := s.p.start(); err != nil {
		return err
	}
	err := Until(ctx, "the sandbox to serve", time.Minute, 50*time.Millisecond, func() bool {
		code, _ := Call(ctx, "GET", s.URL+"/sandbox/info", false, nil, nil)
		return code == 200
	})
	if err != nil {
		return fmt.Errorf("%w: %s", err, Tail(s.p.log, 2000))
	}
	return nil
}

// Restart stops the sandbox (SIGTERM) and starts it again on the same port and data.
func (s *Sandbox) Restart(ctx context.Context) error {
	s.p.stop()
	return s.Start(ctx)
}

// Stop ends the sandbox.
func (s *Sandbox) Stop() { s.p.stop() }

// AddPhone creates an account.
func (s *Sandbox) AddPhone(ctx context.Context, phone string) error {
	_, err := Call(ctx, "POST", s.URL+"/sandbox/phones", false, map[string]string{"phone": phone, "name": "P" + phone}, nil)
	return err
}

// Messages lists a phone's messages (sent and received).
func (s *Sandbox) Messages(ctx context.Context, phone string) ([]sandbox.PhoneMessage, error) {
	var out struct{ Messages []sandbox.PhoneMessage }
	_, err := Call(ctx, "GET", s.URL+"/sandbox/phones/"+phone+"/messages", false, nil, &out)
	return out.Messages, err
}

// Send sends a text from a phone.
func (s *Sandbox) Send(ctx context.Context, from, to, body string) error {
	_, err := Call(ctx, "POST", s.URL+"/sandbox/phones/"+from+"/messages", false, map[string]string{"to": to, "body": body}, nil)
	return err
}

// Fault injects a sandbox fault of kind into the account's devices.
func (s *Sandbox) Fault(ctx context.Context, phone, kind string) error {
	_, err := Call(ctx, "POST", s.URL+"/sandbox/faults", false, map[string]any{"phone": phone, "kind": kind}, nil)
	return err
}

// Log is the path of the sandbox's log file.
func (s *Sandbox) Log() string { return s.p.log }
