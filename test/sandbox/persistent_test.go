package sandbox_test

import (
	"context"
	"testing"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// persistent is a sandbox keeping its state in a directory, which a test restarts at will. Its
// network keeps pointing at the running server across restarts.
type persistent struct {
	*network
	dir string
	srv *sandbox.Server
}

// startPersistent starts a sandbox keeping its state in a fresh directory.
func startPersistent(t *testing.T) *persistent {
	t.Helper()
	p := &persistent{network: &network{t: t}, dir: t.TempDir()}
	p.start()
	t.Cleanup(func() { _ = p.srv.Close() })
	return p
}

func (p *persistent) start() {
	p.t.Helper()
	srv, err := sandbox.Start(context.Background(), sandbox.Options{Listen: "127.0.0.1:0", DataDir: p.dir})
	if err != nil {
		p.t.Fatalf("starting the persistent sandbox: %v", err)
	}
	p.srv, p.url = srv, srv.URL()
}

// stop closes the sandbox, saving its state; start (or restart) brings it back.
func (p *persistent) stop() {
	p.t.Helper()
	if err := p.srv.Close(); err != nil {
		p.t.Fatalf("closing the persistent sandbox: %v", err)
	}
}

// restart stops the sandbox and starts it again from its directory.
func (p *persistent) restart() {
	p.t.Helper()
	p.stop()
	p.start()
}

// aliceLinked adds the phones of Alice and Bob and links a client to Alice. The client reconnects
// only when the test says (reconnect): whatsmeow's own reconnect loop, started when a restarting
// sandbox drops it, races the client's connection handling under -race.
func (p *persistent) aliceLinked() *client {
	p.t.Helper()
	p.addPhone("15550001111", "Alice")
	p.addPhone("15550002222", "Bob")
	alice := newClient(p.t, p.network)
	alice.cli.EnableAutoReconnect = false
	alice.pair(p.network, "15550001111")
	return alice
}
