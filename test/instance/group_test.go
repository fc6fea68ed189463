package instance_test

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// kill -9 at varying moments of POST /group (while it is being answered, right after the
// answer) never makes two groups: after the restart the phone holds one group of that name —
// or none when the request was cut before it was accepted (it got no answer).
func TestKill9DuringGroupCreation(t *testing.T) {
	sb, dir, addr, base, proc := startPaired(t)
	delays := []time.Duration{-1, 0, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond, 100 * time.Millisecond}
	for round, delay := range delays {
		name := fmt.Sprintf("kill group %d", round)
		code := createAndKill(t, base, name, proc, delay)
		proc = startInstance(t, addr, dir, sb.URL())
		eventually(t, "authentication after the restart", func() bool { return status(t, base)["accountStatus"] == "authenticated" })
		eventually(t, "an empty queue", func() bool {
			var q map[string]any
			return do(t, "GET", base+"/showMessagesQueue", nil, &q) == 200 && q["totalMessages"] == float64(0)
		})
		n := groupsNamed(t, sb, name)
		t.Logf("round %d (kill %v after the request, -1: after the answer; answered %d): %d group(s)", round, delay, code, n)
		if n > 1 || (code == 200 && n != 1) {
			t.Fatalf("round %d: the phone holds %d groups named %q (POST /group answered %d)", round, n, name, code)
		}
	}
}

// createAndKill posts /group and kills the instance delay after the request went out, or (delay
// < 0) right after the answer; it returns the answer's status (0: none).
func createAndKill(t *testing.T, base, name string, proc *exec.Cmd, delay time.Duration) int {
	t.Helper()
	answered := make(chan int, 1)
	go func() {
		answered <- do(t, "POST", base+"/group", map[string]any{"groupName": name, "phones": []string{"15550002222"}}, nil)
	}()
	code := -1
	if delay < 0 {
		code = <-answered
	} else {
		time.Sleep(delay)
	}
	_ = proc.Process.Signal(os.Kill)
	_ = proc.Wait()
	if code < 0 {
		code = <-answered
	}
	return code
}

// groupsNamed counts the groups of 15550002222 with the subject name.
func groupsNamed(t *testing.T, sb *sandbox.Server, name string) int {
	t.Helper()
	var out struct{ Groups []sandbox.GroupInfo }
	if code := do(t, "GET", sb.URL()+"/sandbox/phones/15550002222/groups", nil, &out); code != 200 {
		t.Fatalf("listing the phone's groups: %d", code)
	}
	n := 0
	for _, g := range out.Groups {
		if g.Subject == name {
			n++
		}
	}
	return n
}
