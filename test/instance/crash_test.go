// Package instance_test runs the instance server binary against the sandbox and treats it
// roughly: killed with SIGKILL and restarted, it must lose nothing and send nothing twice.
package instance_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/internal/testbin"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

func do(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(data, out)
	}
	return resp.StatusCode
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	testenv.EventuallyTrue(t, what, ok)
}

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// startInstance runs the instance binary and waits until it serves.
func startInstance(t *testing.T, addr, dataDir, network string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testbin.Path(t), "instance", "--listen", addr, "--data-dir", dataDir, "--token", "tok",
		"--network-url", network)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // keep the pipe drained; show errors
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "level=ERROR") {
				fmt.Fprintln(os.Stderr, sc.Text())
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, "the instance to serve", func() bool { return do(t, "GET", "http://"+addr+"/healthz", nil, nil) == 200 })
	return cmd
}

func status(t *testing.T, base string) map[string]any {
	var st map[string]any
	do(t, "GET", base+"/status?full=true", nil, &st)
	return st
}

func TestSendsSurviveKill9(t *testing.T) {
	sb, dir, addr, base, first := startPaired(t)

	// Take the account offline (a ban), queue three messages, and kill the process hard.
	do(t, "POST", sb.URL()+"/sandbox/faults", map[string]any{"phone": "15550001111", "kind": "ban", "seconds": 600}, nil)
	eventually(t, "the ban to show", func() bool {
		sd, _ := status(t, base)["statusData"].(map[string]any)
		return sd["substatus"] == "banned"
	})
	var ids []string
	for i := 1; i <= 3; i++ {
		var r map[string]any
		if code := do(t, "POST", base+"/sendMessage", map[string]string{"phone": "15550002222", "body": fmt.Sprintf("message %d", i)}, &r); code != 200 {
			t.Fatalf("sendMessage: %d %v", code, r)
		}
		ids = append(ids, r["id"].(string))
	}
	_ = first.Process.Signal(os.Kill)
	_ = first.Wait()

	do(t, "POST", sb.URL()+"/sandbox/faults", map[string]any{"phone": "15550001111", "kind": "clear"}, nil)
	startInstance(t, addr, dir, sb.URL())
	eventually(t, "authentication after the restart", func() bool { return status(t, base)["accountStatus"] == "authenticated" })
	var got []string
	eventually(t, "all three messages on Bob's phone", func() bool {
		var out struct{ Messages []sandbox.PhoneMessage }
		do(t, "GET", sb.URL()+"/sandbox/phones/15550002222/messages", nil, &out)
		got = got[:0]
		for _, m := range out.Messages {
			got = append(got, m.Body)
		}
		return len(got) >= 3
	})
	time.Sleep(time.Second) // a duplicate would arrive now
	var out struct{ Messages []sandbox.PhoneMessage }
	do(t, "GET", sb.URL()+"/sandbox/phones/15550002222/messages", nil, &out)
	if len(out.Messages) != 3 {
		t.Fatalf("Bob received %d messages, want exactly 3: %+v", len(out.Messages), out.Messages)
	}
	for i, m := range out.Messages {
		if m.Body != fmt.Sprintf("message %d", i+1) || !strings.HasSuffix(ids[i], "_"+m.ID) {
			t.Fatalf("message %d: %+v (queued as %s)", i, m, ids[i])
		}
	}
	var q map[string]any
	do(t, "GET", base+"/showMessagesQueue", nil, &q)
	if q["totalMessages"] != float64(0) {
		t.Fatalf("queue after delivery: %v", q)
	}
}

// kill -9 in the middle of draining a burst of 1,000 sends: after the restart every message
// reaches the phone once, in the order it was queued.
func TestKill9DuringBurst(t *testing.T) {
	const total = 1000
	sb, dir, addr, base, first := startPaired(t)

	// Accept the burst (16 concurrent senders); queue numbers give the order.
	order := make(map[string]int64, total)
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Go(func() {
			for i := range next {
				body := fmt.Sprintf("burst %04d", i)
				var r map[string]any
				if code := do(t, "POST", base+"/sendMessage", map[string]string{"phone": "15550002222", "body": body}, &r); code != 200 {
					t.Errorf("sendMessage %d: %d %v", i, code, r)
					continue
				}
				mu.Lock()
				order[body] = int64(r["queueNumber"].(float64))
				mu.Unlock()
			}
		})
	}
	for i := 0; i < total; i++ {
		next <- i
	}
	close(next)
	wg.Wait()

	received := func() []sandbox.PhoneMessage {
		var out struct{ Messages []sandbox.PhoneMessage }
		do(t, "GET", sb.URL()+"/sandbox/phones/15550002222/messages", nil, &out)
		return out.Messages
	}
	eventually(t, "the drain to be under way", func() bool { return len(received()) >= 100 })
	_ = first.Process.Signal(os.Kill)
	_ = first.Wait()
	atKill := len(received())
	t.Logf("killed with %d of %d messages delivered", atKill, total)

	startInstance(t, addr, dir, sb.URL())
	eventually(t, "every message on the phone", func() bool { return len(received()) >= total })
	time.Sleep(time.Second) // late duplicates would show now
	msgs := received()
	if len(msgs) != total {
		t.Fatalf("the phone shows %d messages, want %d", len(msgs), total)
	}
	resent := 0
	last := int64(0)
	for _, m := range msgs {
		qn, ok := order[m.Body]
		if !ok || qn <= last {
			t.Fatalf("message %q (queue number %d) arrived after queue number %d", m.Body, qn, last)
		}
		last = qn
		if m.Copies > 1 {
			resent++
		}
	}
	// A send interrupted between the server's ack and our record is sent again with the same
	// id: the phone shows it once. Report how often that happened.
	t.Logf("%d of %d messages were delivered twice (same id, shown once)", resent, total)
}

// startPaired starts a sandbox with the phones 15550001111 (the instance's account) and
// 15550002222, and the instance binary paired to the first.
func startPaired(t *testing.T) (sb *sandbox.Server, dir, addr, base string, proc *exec.Cmd) {
	t.Helper()
	return startPairedIn(t, t.TempDir())
}

// startPairedIn is startPaired with the instance's data in dir.
func startPairedIn(t *testing.T, dir string) (sb *sandbox.Server, _, addr, base string, proc *exec.Cmd) {
	t.Helper()
	sb, err := sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	for _, p := range []string{"15550001111", "15550002222"} {
		if code := do(t, "POST", sb.URL()+"/sandbox/phones", map[string]string{"phone": p}, nil); code != 201 {
			t.Fatalf("creating phone %s: %d", p, code)
		}
	}
	addr = freePort(t)
	base = "http://" + addr
	proc = startInstance(t, addr, dir, sb.URL())
	pairInstance(t, base, sb.URL())
	return sb, dir, addr, base, proc
}

// pairInstance scans the instance's QR code with the phone of 15550001111.
func pairInstance(t *testing.T, base, sb string) {
	t.Helper()
	var qr string
	eventually(t, "a QR code", func() bool {
		if status(t, base)["accountStatus"] != "got qr code" {
			return false
		}
		req, _ := http.NewRequest("GET", base+"/qr_code?format=raw&token=tok", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		qr = string(raw)
		return resp.StatusCode == 200
	})
	if code := do(t, "POST", sb+"/sandbox/phones/15550001111/scan", map[string]string{"qr": qr}, nil); code != 200 {
		t.Fatalf("scan: %d", code)
	}
	eventually(t, "authentication", func() bool { return status(t, base)["accountStatus"] == "authenticated" })
}
