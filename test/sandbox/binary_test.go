package sandbox_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.mau.fi/whatsmeow/socket"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/internal/testbin"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startSandboxBinary runs `messenger-operator sandbox` as its own process.
func startSandboxBinary(t *testing.T, extra ...string) *network {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(testbin.Path(t), append([]string{"sandbox", "--listen", addr}, extra...)...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sandbox binary: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("sandbox binary did not start")
	}
	return &network{t: t, url: "http://" + addr}
}

func TestBinarySandbox(t *testing.T) {
	n := startSandboxBinary(t)
	n.addPhone("15550001111", "Alice")
	n.addPhone("15550002222", "Bob")
	alice := newClient(t, n)
	alice.pair(n, "15550001111")
	var sent phoneMessage
	n.mustCall("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "via binary"}, &sent)
	waitEvent(alice, func(m *events.Message) bool {
		return m.Info.ID == sent.ID && m.Message.GetConversation() == "via binary"
	})
	resp, err := alice.cli.SendMessage(context.Background(), types.NewJID("15550002222", types.DefaultUserServer), text("back"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	n.waitPhoneMessage("15550002222", func(m phoneMessage) bool { return m.ID == resp.ID && m.Body == "back" })
}

// A persistent sandbox keeps accounts, devices, keys and offline messages across restarts.
func TestPersistenceAcrossRestart(t *testing.T) {
	n := startPersistent(t)
	alice := n.aliceLinked()
	alice.cli.Disconnect()
	var sent phoneMessage
	n.mustCall("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "kept"}, &sent)
	n.restart()
	var phones struct{ Phones []sandbox.PhoneInfo }
	n.mustCall("GET", "/sandbox/phones", nil, &phones)
	if len(phones.Phones) != 2 {
		t.Fatalf("phones after restart: %+v", phones.Phones)
	}
	reconnect(t, alice, n.network)
	waitEvent(alice, func(m *events.Message) bool { return m.Info.ID == sent.ID && m.Message.GetConversation() == "kept" })
	resp, err := alice.cli.SendMessage(context.Background(), types.NewJID("15550002222", types.DefaultUserServer), text("still here"))
	if err != nil {
		t.Fatalf("send after restart: %v", err)
	}
	n.waitPhoneMessage("15550002222", func(m phoneMessage) bool { return m.ID == resp.ID })
}

// reconnect points an existing client at a (restarted) sandbox and logs it in again.
func reconnect(t *testing.T, c *client, n *network) {
	t.Helper()
	if err := configure(c, n); err != nil {
		t.Fatal(err)
	}
	if err := c.cli.Connect(); err != nil {
		t.Fatalf("connect: %v", err)
	}
}

// Broken clients get dropped without disturbing anybody else.
func TestMalformedClientsDoNotDisturbOthers(t *testing.T) {
	n := startSandbox(t)
	n.addPhone("15550001111", "Alice")
	n.addPhone("15550002222", "Bob")
	alice := newClient(t, n)
	alice.pair(n, "15550001111")
	wsURL := "ws" + strings.TrimPrefix(n.url, "http") + "/ws/chat"
	garbage := [][]byte{
		[]byte("not whatsapp at all"),
		append(append([]byte{}, socket.WAConnHeader...), 0, 0, 4, 1, 2, 3, 4),          // a hello that is no protobuf
		append(append([]byte{}, socket.WAConnHeader...), 0xFF, 0xFF, 0xFF, 0, 0, 0, 0), // an oversized frame
	}
	for i, g := range garbage {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ws, _, err := websocket.Dial(ctx, wsURL, nil)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		_ = ws.Write(ctx, websocket.MessageBinary, g)
		if _, _, err := ws.Read(ctx); err == nil {
			t.Fatalf("garbage %d: the sandbox answered instead of dropping the connection", i)
		}
		cancel()
		_ = ws.CloseNow()
	}
	// Non-websocket requests to the socket path are refused too.
	if code := n.call("GET", "/ws/chat", nil, nil); code < 400 {
		t.Fatalf("plain GET /ws/chat answered %d", code)
	}
	var sent phoneMessage
	n.mustCall("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "still fine"}, &sent)
	waitEvent(alice, func(m *events.Message) bool { return m.Info.ID == sent.ID })
}

func TestAdminAPIRejectsBadInput(t *testing.T) {
	n := startSandbox(t)
	n.addPhone("15550001111", "Alice")
	cases := []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/sandbox/phones", map[string]string{"phone": "abc"}, 400},
		{"POST", "/sandbox/phones", map[string]string{"phone": "15550001111"}, 409},
		{"POST", "/sandbox/phones", map[string]any{"phone": "15550003333", "extra": 1}, 400},
		{"POST", "/sandbox/phones", "not an object", 400},
		{"GET", "/sandbox/phones/19999999999", nil, 404},
		{"POST", "/sandbox/phones/15550001111/scan", map[string]string{"qr": "garbage"}, 400},
		{"POST", "/sandbox/phones/15550001111/scan", map[string]string{"qr": "https://wa.me/settings/linked_devices#2@x,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,AAAA"}, 404},
		{"POST", "/sandbox/phones/15550001111/messages", map[string]string{"to": "not a number", "body": "x"}, 400},
		{"POST", "/sandbox/phones/15550001111/messages", map[string]string{"to": "15550002222"}, 400},
		{"POST", "/sandbox/phones/15550001111/read", map[string]any{"ids": []string{}}, 400},
		{"POST", "/sandbox/phones/15550001111/read", map[string]any{"ids": []string{"NOPE"}}, 404},
		{"POST", "/sandbox/faults", map[string]string{"phone": "15550001111", "kind": "meteor"}, 400},
		{"POST", "/sandbox/faults", map[string]string{"phone": "19999999999", "kind": "ban"}, 404},
	}
	for _, c := range cases {
		var out map[string]any
		got := n.call(c.method, c.path, c.body, &out)
		if got != c.want || (got >= 400 && out["error"] == nil) {
			t.Errorf("%s %s %v: status %d (want %d), body %v", c.method, c.path, c.body, got, c.want, out)
		}
	}
	req, _ := http.NewRequest("POST", n.url+"/sandbox/phones", strings.NewReader("--x\r\n"))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=x")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 415 {
		t.Errorf("multipart body: %v %v, want 415", resp, err)
	} else {
		resp.Body.Close()
	}
	big := map[string]string{"phone": "15550004444", "name": strings.Repeat("x", 30<<20)}
	if got := n.call("POST", "/sandbox/phones", big, nil); got != 413 {
		t.Errorf("oversized body: status %d, want 413", got)
	}
}
