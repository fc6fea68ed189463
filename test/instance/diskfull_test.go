package instance_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// The data volume full (a small tmpfs as --data-dir, filled up): file sends and, once the
// database cannot grow, text sends answer 507 with the reason; nothing accepted before or during
// is lost or doubled (the queue keeps draining as far as the journal can be written), and once
// space returns new sends are accepted and everything accepted is delivered, without a restart.
func TestDataVolumeFull(t *testing.T) { dataVolumeFull(t, true) }

// The same with the queue draining while the volume fills: a send whose outcome cannot be
// recorded (MarkSent fails with ENOSPC) is recorded once space returns, without a restart.
func TestDataVolumeFullWhileDraining(t *testing.T) { dataVolumeFull(t, false) }

// dataVolumeFull fills the instance's volume and checks sends; with hold the account is banned
// for a short while first, so that nothing drains while the volume is full.
func dataVolumeFull(t *testing.T, hold bool) {
	dir := mountTmpfs(t, "8m")
	sb, _, _, base, proc := startPairedIn(t, dir)
	if hold { // lifted (clear and POST /reboot) once space returns
		do(t, "POST", sb.URL()+"/sandbox/faults", map[string]any{"phone": "15550001111", "kind": "ban", "seconds": 600}, nil)
		eventually(t, "the ban to show", func() bool {
			sd, _ := status(t, base)["statusData"].(map[string]any)
			return sd["substatus"] == "banned"
		})
	}

	accepted := map[string]bool{}
	send := func(body string) int {
		var r map[string]any
		code := do(t, "POST", base+"/sendMessage", map[string]string{"phone": "15550002222", "body": body}, &r)
		switch code {
		case 200:
			accepted[body] = true
		case 507, 503:
			if msg, _ := r["error"].(string); !strings.Contains(msg, "space") && code == 507 {
				t.Errorf("507 without the reason: %v", r)
			}
		default:
			t.Fatalf("sendMessage %q on a full volume: %d %v", body, code, r)
		}
		return code
	}
	for i := range 5 {
		if code := send(fmt.Sprintf("before %d", i)); code != 200 {
			t.Fatalf("sendMessage before the volume is full: %d", code)
		}
	}
	filler := fillVolume(t, dir)

	// A file needs new blocks at once: 507.
	data := "data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(make([]byte, 256<<10))
	var r map[string]any
	if code := do(t, "POST", base+"/sendFile", map[string]string{"phone": "15550002222", "body": data, "filename": "full.bin"}, &r); code != 507 {
		t.Fatalf("sendFile on a full volume: %d %v, want 507", code, r)
	}
	// Texts: SQLite may still fit some into pages it has; keep going until the database is full.
	refused, long := 0, strings.Repeat("x", 4000)
	for i := 0; i < 3000 && refused < 20; i++ {
		if send(fmt.Sprintf("during %04d %s", i, long)) != 200 {
			refused++
		}
	}
	if refused == 0 {
		t.Fatalf("3000 texts of 4 KB were all accepted on a full 8 MiB volume")
	}
	t.Logf("on the full volume: %d texts accepted, %d refused", len(accepted)-5, refused)

	// Space returns: the same process accepts again and delivers everything accepted, once.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a send accepted again", func() bool {
		return do(t, "POST", base+"/sendMessage", map[string]string{"phone": "15550002222", "body": "after"}, nil) == 200
	})
	accepted["after"] = true
	if hold {
		do(t, "POST", sb.URL()+"/sandbox/faults", map[string]any{"phone": "15550001111", "kind": "clear"}, nil)
		if code := do(t, "POST", base+"/reboot", nil, nil); code != 200 {
			t.Fatalf("POST /reboot: %d", code)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			var q map[string]any
			do(t, "GET", base+"/showMessagesQueue", nil, &q)
			t.Logf("queue: %v\nstatus: %v", q, status(t, base))
		}
	})
	checkDeliveredOnce(t, sb, "15550002222", accepted)
	if proc.ProcessState != nil {
		t.Fatalf("the instance exited: %v", proc.ProcessState)
	}
}

// checkDeliveredOnce waits until the phone holds every accepted body, then checks it holds each
// once and nothing that was refused.
func checkDeliveredOnce(t *testing.T, sb *sandbox.Server, phone string, accepted map[string]bool) {
	t.Helper()
	var msgs []sandbox.PhoneMessage
	eventually(t, fmt.Sprintf("%d accepted sends on the phone", len(accepted)), func() bool {
		var out struct{ Messages []sandbox.PhoneMessage }
		do(t, "GET", sb.URL()+"/sandbox/phones/"+phone+"/messages", nil, &out)
		msgs = out.Messages
		seen := 0
		for _, m := range msgs {
			if accepted[m.Body] {
				seen++
			}
		}
		return seen >= len(accepted)
	})
	count := map[string]int{}
	for _, m := range msgs {
		if !m.FromMe {
			count[m.Body]++
			if !accepted[m.Body] {
				t.Errorf("the phone received %.20q…, which was refused", m.Body)
			}
			if m.Copies > 1 {
				t.Logf("%.20q… was delivered %d times (same id, shown once)", m.Body, m.Copies)
			}
		}
	}
	for body, n := range count {
		if n != 1 {
			t.Errorf("%.20q… is on the phone %d times", body, n)
		}
	}
}

// mountTmpfs mounts a tmpfs of the given size on a new directory, unmounted at the end; it
// skips the test when mounting is not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("this test mounts a %s tmpfs as the data volume and needs root (CAP_SYS_ADMIN): mount: %v %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// fillVolume writes a file into dir until the volume is full and returns its path.
func fillVolume(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the volume: %v", err)
			}
			break
		}
	}
	for { // the last partial blocks too
		if _, err := f.Write(chunk[:512]); err != nil {
			return path
		}
	}
}
