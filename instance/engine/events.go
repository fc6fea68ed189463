package engine

import (
	"context"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/internal/sessionguard"
)

// storeTimeout bounds one store write from the event handler.
const storeTimeout = 30 * time.Second

// handleEvent turns whatsmeow events into status changes, journal entries and acks. It returns
// false when an incoming message could not be stored, so whatsmeow does not acknowledge it and
// the server delivers it again.
func (e *Engine) handleEvent(cli *whatsmeow.Client, evt any) bool {
	if !e.current(cli) {
		return true
	}
	e.learnNames(evt)
	e.reportGroupChange(cli, evt)
	switch ev := evt.(type) {
	case *events.Connected:
		e.mu.Lock()
		e.failures, e.until = 0, time.Time{}
		e.mu.Unlock()
		e.connectedAgain()
		e.setStatus(account.StatusAuthenticated, account.SubstatusConnected, "", "")
		e.log.Info("WhatsApp account connected", "jid", cli.Store.ID.String())
		signal(e.wake)
	case *events.PairSuccess:
		sessionguard.Wrap(cli.Store) // the store's sessions exist from pairing on
		pruneRetryStoreRarely(cli.Store)
		e.setStatus(account.StatusLoading, account.SubstatusConnecting, "", "paired with "+ev.ID.User+"; logging in")
	case *events.Disconnected:
		e.reconnectLater("disconnected from WhatsApp; reconnecting")
	case *events.ConnectFailure:
		e.reconnectLater(fmt.Sprintf("connection refused (%d %s); retrying", ev.Reason, ev.Message))
	case *events.KeepAliveTimeout:
		// Not from the handler's goroutine: marking the connection stale disconnects it.
		go e.keepAliveFailed(cli, ev)
	case *events.KeepAliveRestored:
		e.touch() // a stale connection was already dropped; a live one stays connected
	case *events.StreamReplaced:
		e.holdOff(account.SubstatusConflict, "another connection took over this account; reboot to reconnect")
	case *events.LoggedOut:
		e.mu.Lock()
		e.cli = nil // the store is deleted; the supervisor pairs a new device
		e.mu.Unlock()
		e.setStatus(account.StatusLoading, account.SubstatusLoggedOut, "", fmt.Sprintf("logged out by WhatsApp (%s); a new QR code follows", ev.Reason))
		signal(e.kick)
	case *events.TemporaryBan:
		e.mu.Lock()
		e.until = time.Now().Add(ev.Expire)
		e.mu.Unlock()
		e.setStatus(account.StatusLoading, account.SubstatusBanned, "", ev.String())
		signal(e.kick)
	case *events.ClientOutdated:
		e.holdOff(account.SubstatusOutdated, "WhatsApp refused this client version as outdated; upgrade the instance image")
	case *events.Message:
		return e.onMessage(cli, ev)
	case *events.Receipt:
		e.onReceipt(ev)
	case *events.CallOffer:
		return e.onCall(cli, ev)
	case *events.JoinedGroup:
		return e.onJoinedGroup(cli, ev)
	case *events.GroupInfo:
		return e.onGroupInfo(cli, ev)
	case *events.HistorySync:
		e.onHistorySync(cli, ev)
	}
	return true
}

// holdOff stops reconnecting until a reboot, for problems reconnecting cannot fix.
func (e *Engine) holdOff(substatus, msg string) {
	e.mu.Lock()
	e.hold = true
	e.mu.Unlock()
	e.setStatus(account.StatusLoading, substatus, "", msg)
}

// reconnectLater schedules a reconnection after the backoff.
func (e *Engine) reconnectLater(msg string) {
	e.mu.Lock()
	e.failures++
	e.until = time.Now().Add(e.live.backoff(e.failures))
	e.mu.Unlock()
	e.setStatus(account.StatusLoading, e.reconnecting(account.SubstatusConnecting), "", msg)
	signal(e.kick)
}

// onReceipt records delivered and viewed acks of messages we sent.
func (e *Engine) onReceipt(ev *events.Receipt) {
	var status string
	switch ev.Type {
	case types.ReceiptTypeDelivered, types.ReceiptTypeInactive:
		status = chat.AckDelivered
	case types.ReceiptTypeRead, types.ReceiptTypePlayed:
		status = chat.AckViewed
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	for _, id := range ev.MessageIDs {
		if _, err := e.opts.Store.RecordAck(ctx, id, status); err != nil {
			e.log.Error("recording an ack failed", "err", err, "status", status)
		}
	}
}

// onCall journals an incoming call as a call_log message.
func (e *Engine) onCall(cli *whatsmeow.Client, ev *events.CallOffer) bool {
	from := e.chatIDOf(cli, ev.From, ev.CallCreatorAlt)
	m := chat.Message{
		ID:   chat.MessageID{Chat: from, WAID: sanitizeWAID(ev.CallID)}.String(),
		Type: chat.TypeCallLog, Author: from.String(), ChatID: from.String(), Time: ev.Timestamp.Unix(),
	}
	return e.journal(m)
}

// journal appends a message to the journal; false means it could not be stored.
func (e *Engine) journal(m chat.Message) bool {
	e.fillChatName(&m)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	appendMessage := e.opts.Store.AppendMessage
	if e.old(m) {
		appendMessage = e.opts.Store.AppendMessageUnposted
	}
	if _, _, err := appendMessage(ctx, m); err != nil {
		e.log.Error("journaling a message failed; it will be delivered again", "err", err)
		return false
	}
	return true
}

// old reports whether m reached the account while the instance was away (sent before the current
// connection was begun: offline messages can be handled before its Connected event) and the ignoreOldMessages setting keeps such messages out of webhooks.
func (e *Engine) old(m chat.Message) bool {
	if m.FromMe || !e.opts.Store.Settings().IgnoreOldMessages {
		return false
	}
	e.mu.Lock()
	since := e.connectedAt
	e.mu.Unlock()
	// A second of slack: message times are whole seconds, and a live message is not old.
	return !since.IsZero() && m.Time < since.Unix()-1
}
