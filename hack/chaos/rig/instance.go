package rig

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Instance is a `messenger-operator instance` process with a data dir of its own.
type Instance struct {
	p    process
	Base string // http://addr
	Dir  string
}

// StartInstance runs an instance server on a free port with its data in dir (SQLite unless
// extra holds --database) and waits until it serves.
func StartInstance(ctx context.Context, bin, dir, network string, extra ...string) (*Instance, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"instance", "--listen", addr, "--data-dir", dir, "--token", Token, "--network-url", network}, extra...)
	i := &Instance{Base: "http://" + addr, Dir: dir, p: process{bin: bin, log: dir + ".log", args: args}}
	return i, i.Start(ctx)
}

// Start starts the (stopped) instance and waits until /healthz answers.
func (i *Instance) Start(ctx context.Context) error {
	if err := i.p.start(); err != nil {
		return err
	}
	err := Until(ctx, "the instance to serve", time.Minute, 50*time.Millisecond, func() bool {
		code, _ := Call(ctx, "GET", i.Base+"/healthz", false, nil, nil)
		return code == 200
	})
	if err != nil {
		return fmt.Errorf("%w: %s", err, Tail(i.p.log, 2000))
	}
	return nil
}

// Kill9 ends the instance with SIGKILL.
func (i *Instance) Kill9() { i.p.kill() }

// Stop ends the instance with SIGTERM.
func (i *Instance) Stop() { i.p.stop() }

// Suspend stops the process (SIGSTOP); Resume continues it.
func (i *Instance) Suspend() error { return i.p.signal(syscall.SIGSTOP) }

// Resume continues a suspended process (SIGCONT).
func (i *Instance) Resume() error { return i.p.signal(syscall.SIGCONT) }

// PID is the process id (0 when not running).
func (i *Instance) PID() int { return i.p.pid() }

// Log is the path of the instance's log file.
func (i *Instance) Log() string { return i.p.log }

// AccountStatus is the accountStatus of GET /status ("" when unreachable).
func (i *Instance) AccountStatus(ctx context.Context) string {
	var st struct {
		AccountStatus string `json:"accountStatus"`
	}
	_, _ = Call(ctx, "GET", i.Base+"/status", true, nil, &st)
	return st.AccountStatus
}

// WaitAuthenticated waits until the instance reports an authenticated account.
func (i *Instance) WaitAuthenticated(ctx context.Context) error {
	return Until(ctx, "authentication", 2*time.Minute, 100*time.Millisecond, func() bool {
		return i.AccountStatus(ctx) == "authenticated"
	})
}

// Pair shows the instance's QR code to the sandbox phone and waits for authentication.
func (i *Instance) Pair(ctx context.Context, sb *Sandbox, phone string) error {
	var qr string
	err := Until(ctx, "a QR code", time.Minute, 100*time.Millisecond, func() bool {
		if i.AccountStatus(ctx) != "got qr code" {
			return false
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", i.Base+"/qr_code?format=raw&token="+Token, nil)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		qr = string(raw)
		return resp.StatusCode == 200
	})
	if err != nil {
		return err
	}
	if _, err := Call(ctx, "POST", sb.URL+"/sandbox/phones/"+phone+"/scan", false, map[string]string{"qr": qr}, nil); err != nil {
		return err
	}
	return i.WaitAuthenticated(ctx)
}

// Sent is the answer to an accepted send.
type Sent struct {
	ID          string `json:"id"`
	QueueNumber int64  `json:"queueNumber"`
}

// SendText posts /sendMessage; it returns the HTTP status (0: unreachable) and the answer.
func (i *Instance) SendText(ctx context.Context, phone, body string) (int, Sent, error) {
	var s Sent
	code, err := Call(ctx, "POST", i.Base+"/sendMessage", true, map[string]string{"phone": phone, "body": body}, &s)
	return code, s, err
}

// Message is what the rig reads of a journaled message.
type Message struct {
	ID            string `json:"id"`
	Body          string `json:"body"`
	FromMe        bool   `json:"fromMe"`
	ChatID        string `json:"chatId"`
	MessageNumber int64  `json:"messageNumber"`
}

// Messages reads the whole journal through GET /messages, paging by lastMessageNumber.
func (i *Instance) Messages(ctx context.Context) ([]Message, error) {
	var all []Message
	after := int64(0)
	for {
		var page struct {
			Messages          []Message `json:"messages"`
			LastMessageNumber int64     `json:"lastMessageNumber"`
		}
		url := fmt.Sprintf("%s/messages?lastMessageNumber=%d&limit=1000", i.Base, after)
		if _, err := Call(ctx, "GET", url, true, nil, &page); err != nil {
			return nil, err
		}
		if len(page.Messages) == 0 {
			return all, nil
		}
		all = append(all, page.Messages...)
		after = page.LastMessageNumber
	}
}

// DataPath joins a name to the instance's data dir.
func (i *Instance) DataPath(name string) string { return filepath.Join(i.Dir, name) }
