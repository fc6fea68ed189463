package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// sandboxProc is the sandbox child process.
type sandboxProc struct {
	child *benchutil.Child
	api   adminAPI
}

// startSandbox re-executes this program with -serve and reads the sandbox URL it announces.
func startSandbox(ctx context.Context) (*sandboxProc, error) {
	child, url, err := benchutil.StartSandboxChild(ctx)
	if err != nil {
		return nil, err
	}
	return &sandboxProc{child: child, api: adminAPI{url: url}}, nil
}

func (p *sandboxProc) stop() { p.child.Stop() }

// adminAPI calls the sandbox's admin REST API.
type adminAPI struct{ url string }

var httpClient = &http.Client{Timeout: 2 * time.Minute}

// call sends body as JSON and decodes the answer into out (when not nil).
func (a adminAPI) call(ctx context.Context, method, path string, body, out any) error {
	return callJSON(ctx, method, a.url+path, "", body, out)
}

// callJSON sends body as JSON (with a Bearer token when set) and decodes a 2xx answer into out.
func callJSON(ctx context.Context, method, url, token string, body, out any) error {
	return benchutil.CallJSON(ctx, httpClient, method, url, token, body, out)
}

func (a adminAPI) addPhone(ctx context.Context, phone, name string) error {
	return a.call(ctx, "POST", "/sandbox/phones", map[string]string{"phone": phone, "name": name}, nil)
}

func (a adminAPI) scan(ctx context.Context, phone, qr string) error {
	return a.call(ctx, "POST", "/sandbox/phones/"+phone+"/scan", map[string]string{"qr": qr}, nil)
}

// received counts the messages on a phone whose body starts with prefix, and how many of them
// arrived more than once.
func (a adminAPI) received(ctx context.Context, phone, prefix string) (n, dup int, err error) {
	var out struct{ Messages []sandbox.PhoneMessage }
	if err := a.call(ctx, "GET", "/sandbox/phones/"+phone+"/messages", nil, &out); err != nil {
		return 0, 0, err
	}
	for _, m := range out.Messages {
		if !m.FromMe && strings.HasPrefix(m.Body, prefix) {
			n++
			if m.Copies > 1 {
				dup++
			}
		}
	}
	return n, dup, nil
}

// waitReceived polls a phone until it holds want messages with the prefix and returns when. Each
// poll reads the phone's whole list, so polls are spaced out while many messages are missing
// (half the expected time to the end at the rate seen so far, at most 1 s) and come every `poll`
// near the end: the clock keeps a resolution of `poll` without the polling loading the machine.
func (a adminAPI) waitReceived(ctx context.Context, phone, prefix string, want int, poll time.Duration) (time.Time, int, error) {
	start := time.Now()
	deadline := start.Add(10 * time.Minute)
	for {
		n, dup, err := a.received(ctx, phone, prefix)
		if err != nil {
			return time.Time{}, 0, err
		}
		if n >= want {
			return time.Now(), dup, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, 0, fmt.Errorf("phone %s has %d of %d %q messages", phone, n, want, prefix)
		}
		wait := poll
		if n > 0 {
			perMsg := time.Since(start) / time.Duration(n)
			wait = min(max(poll, perMsg*time.Duration(want-n)/2), time.Second)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, 0, ctx.Err()
		case <-time.After(wait):
		}
	}
}
