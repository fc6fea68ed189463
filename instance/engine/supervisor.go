package engine

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/internal/sessionguard"
	"github.com/messenger-operator/messenger-operator/sandbox/sandboxclient"
)

// supervise keeps the account connected, or pairing, until ctx ends. whatsmeow's own
// auto-reconnect is off: every reconnection goes through here, with a capped, jittered backoff
// (Liveness.backoff).
func (e *Engine) supervise(ctx context.Context) {
	var gateChanged <-chan struct{}
	if e.opts.Gate != nil {
		gateChanged = e.opts.Gate.Changed()
	}
	for {
		delay := e.step(ctx)
		var timer <-chan time.Time
		if delay > 0 {
			timer = time.After(delay)
		}
		select {
		case <-ctx.Done():
			e.mu.Lock()
			cli := e.cli
			e.mu.Unlock()
			if cli != nil {
				cli.Disconnect()
			}
			return
		case <-e.kick:
		case <-gateChanged:
		case <-timer:
		}
	}
}

// step moves the connection one step towards "connected" and returns how long to wait before
// looking again (0: until something happens).
func (e *Engine) step(ctx context.Context) time.Duration {
	if !e.allowed() {
		e.standBy()
		return 0
	}
	e.mu.Lock()
	cli, hold, until := e.cli, e.hold, e.until
	e.mu.Unlock()
	if cli == nil || cli.Store.Deleted {
		var err error
		if cli, err = e.newClient(ctx); err != nil {
			return e.failed(err)
		}
	}
	if hold || cli.IsConnected() {
		return 0
	}
	if wait := time.Until(until); wait > 0 {
		return wait
	}
	if cli.Store.ID == nil {
		qr, err := cli.GetQRChannel(ctx)
		if err != nil {
			return e.failed(fmt.Errorf("starting QR pairing: %w", err))
		}
		go e.watchQR(cli, qr)
		e.setStatus(account.StatusLoading, e.pairingSubstatus(), "", "waiting for a QR code")
	} else {
		e.setStatus(account.StatusLoading, e.reconnecting(account.SubstatusConnecting), "", "connecting")
	}
	// Connect, not ConnectContext(ctx): the socket must only ever be closed by Disconnect, or
	// whatsmeow's socket teardown races with itself.
	e.mu.Lock()
	e.connectedAt = time.Now() // what was sent before this is old (ignoreOldMessages)
	e.mu.Unlock()
	if err := cli.Connect(); err != nil {
		return e.failed(fmt.Errorf("connecting: %w", err))
	}
	return 0
}

// standBy drops the connection while the gate is closed: another process may own the account.
func (e *Engine) standBy() {
	e.mu.Lock()
	cli := e.cli
	e.staleSince, e.staleWhy = time.Time{}, "" // not this process's connection to prove any more
	e.mu.Unlock()
	if cli != nil {
		cli.Disconnect()
	}
	e.setStatus(account.StatusLoading, account.SubstatusOffline, "",
		"waiting for the connection lease: another process of this instance may hold the connection")
}

// failed records a failed attempt and returns the backoff before the next one.
func (e *Engine) failed(err error) time.Duration {
	e.mu.Lock()
	e.failures++
	wait := e.live.backoff(e.failures)
	e.mu.Unlock()
	e.log.Warn("WhatsApp connection attempt failed", "err", err, "retryIn", wait)
	e.setStatus(account.StatusLoading, e.reconnecting(account.SubstatusOffline), "", err.Error())
	return wait
}

// newClient makes a client for the stored device, or for a new one when there is none.
func (e *Engine) newClient(ctx context.Context) (*whatsmeow.Client, error) {
	dev, err := e.container.GetFirstDevice(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the device: %w", err)
	}
	if dev.ID != nil {
		sessionguard.Wrap(dev) // a new device is wrapped once paired (events.go)
		pruneRetryStoreRarely(dev)
	}
	cli := whatsmeow.NewClient(dev, e.clientLogger(waLogger(e.log.With("component", "whatsmeow"))))
	cli.EnableAutoReconnect = false
	cli.SynchronousAck = true // acknowledge messages only once they are in the journal
	cli.AutomaticMessageRerequestFromPhone = true
	// Keep sent messages in the store so a retry receipt that arrives after a restart (the
	// recipient could not decrypt) is still answered; whatsmeow drops them after 7 days.
	cli.UseRetryMessageStore = true
	// Keep a decrypted message with the session update that decrypting it made, so a message
	// decrypted but not journaled when the process dies is handled from the buffer when the
	// server delivers it again (decrypting it again fails: its key is used up).
	cli.EnableDecryptedEventBuffer = true
	if e.opts.NetworkURL != "" {
		if err := sandboxclient.Configure(ctx, cli, e.opts.NetworkURL); err != nil {
			return nil, fmt.Errorf("using sandbox network: %w", err)
		}
	} else if e.opts.Proxy != "" {
		if err := cli.SetProxyAddress(e.opts.Proxy); err != nil {
			return nil, fmt.Errorf("using proxy: %w", err)
		}
	}
	cli.AddEventHandlerWithSuccessStatus(func(evt any) bool { return e.handleEvent(cli, evt) })
	e.mu.Lock()
	e.cli = cli
	e.mu.Unlock()
	return cli, nil
}

// watchQR follows one pairing attempt: each QR code whatsmeow shows, and how the attempt ends.
// An expired attempt is replaced by a new one, so there is always a live QR to scan.
func (e *Engine) watchQR(cli *whatsmeow.Client, ch <-chan whatsmeow.QRChannelItem) {
	for item := range ch {
		if !e.current(cli) {
			return
		}
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			e.setStatus(account.StatusGotQRCode, e.pairingSubstatus(), item.Code, "scan the QR code with the phone")
		case whatsmeow.QRChannelSuccess.Event:
			e.setStatus(account.StatusLoading, account.SubstatusConnecting, "", "paired; logging in")
		case whatsmeow.QRChannelTimeout.Event:
			e.setStatus(account.StatusLoading, e.pairingSubstatus(), "", "QR code expired; preparing a new one")
			e.endAttempt(cli)
		case whatsmeow.QRChannelClientOutdated.Event:
			e.holdOff(account.SubstatusOutdated, "WhatsApp refused this client version as outdated")
		default:
			e.setStatus(account.StatusLoading, account.SubstatusOffline, "", "pairing failed: "+item.Event)
			e.mu.Lock()
			e.until = time.Now().Add(e.live.backoff(e.failures + 1))
			e.failures++
			e.mu.Unlock()
			e.endAttempt(cli)
		}
	}
}

// endAttempt ends a pairing attempt that did not pair: its client is dropped and the supervisor
// starts the next attempt on a new one. whatsmeow also disconnects an expired attempt's client from
// a goroutine of its own, possibly after the next attempt has connected; on the same client that
// would silently drop the new socket (an explicit Disconnect emits no event) and leave the engine
// waiting for a QR code that never comes.
func (e *Engine) endAttempt(cli *whatsmeow.Client) {
	cli.Disconnect()
	e.mu.Lock()
	if e.cli == cli {
		e.cli = nil
	}
	e.mu.Unlock()
	signal(e.kick)
}

// pairingSubstatus keeps "logged_out" visible while a logged-out account shows its new QR.
func (e *Engine) pairingSubstatus() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.status.Substatus == account.SubstatusLoggedOut {
		return account.SubstatusLoggedOut
	}
	return account.SubstatusPairing
}

// current reports whether cli is still the engine's client (events of replaced clients are stale).
func (e *Engine) current(cli *whatsmeow.Client) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cli == cli
}
