package agent_test

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/agent"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// With the API server unreachable the agent neither blocks the engine's notifications nor lets it
// connect (the Lease cannot be proven), and it still stops when asked.
func TestUnreachableAPIServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there any more
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	ag, err := agent.New(agent.Options{Config: &rest.Config{Host: "http://" + addr, Timeout: time.Second},
		Namespace: "ns", Name: "gone", Store: st, Logger: slog.New(slog.DiscardHandler),
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	eng := &fakeEngine{st: account.Status{AccountStatus: account.StatusLoading, Substatus: account.SubstatusConnecting}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ag.Run(ctx, eng, nil) }()
	for i := range 1000 { // status changes never wait for the agent
		eng.set(account.Status{AccountStatus: account.StatusGotQRCode, QR: "2@" + string(rune('a'+i%26))}, "")
	}
	if ag.Gate().Allowed() {
		t.Error("the gate opened without the Lease")
	}
	cancel()
	if err := <-done; err == nil {
		t.Error("Run reported no error although the API server was unreachable at stop")
	}
}
