package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	v1alpha1ac "github.com/messenger-operator/messenger-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/qr"
)

// Timing of status writes.
const (
	// settleTime merges a burst of engine changes (paired → connecting → connected) into one write.
	settleTime = 50 * time.Millisecond
	// writeTimeout bounds one status write.
	writeTimeout = 10 * time.Second
)

// Reasons of the Authenticated condition. It is True only when messages can be sent now: the
// account is logged in and connected.
const (
	ReasonConnected    = "Connected"
	ReasonAwaitingScan = "AwaitingScan"
	ReasonStopped      = "InstanceStopped"
	// ReasonStale: the connection is open but WhatsApp stopped answering (keepalives, acks);
	// the engine reconnects.
	ReasonStale = "Stale"
)

// report is what the agent writes into status; equal reports are written once.
type report struct {
	accountStatus, qrText, phone, webhookURL string
	queueLength, lastMessageNumber           int64
	condStatus                               metav1.ConditionStatus
	condReason, condMessage                  string
	handledLogout                            string
}

// writeLoop writes the status when the engine, the resource or the Lease change, and refreshes
// the counters every CounterInterval. It never blocks the engine: notifications are merged, and
// a failed write is retried with backoff.
func (a *Agent) writeLoop(ctx context.Context, eng account.Engine, changes <-chan struct{}) {
	tick := time.NewTicker(a.opts.CounterInterval)
	defer tick.Stop()
	var retry retrier
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
			settle(ctx, changes)
		case <-a.wake:
		case <-tick.C:
			signal(a.specWake) // settings changed through the API without a hook go back to spec
		case <-retry.C:
		case <-a.flap.due(): // a held change of the account's state is due
		}
		err := a.sync(ctx, eng)
		if ctx.Err() != nil {
			return
		}
		retry.done(a.log, "writing the MessengerInstance status", err)
	}
}

// settle waits settleTime for more changes so that a burst becomes one write.
func settle(ctx context.Context, changes <-chan struct{}) {
	t := time.NewTimer(settleTime)
	defer t.Stop()
	for {
		select {
		case <-changes:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// sync writes the current report when it differs from the last one written. Only the Lease
// holder reports, and only once the resource was observed (its lastHandledLogout is known).
func (a *Agent) sync(ctx context.Context, eng account.Engine) error {
	if !a.lease.Allowed() {
		return nil
	}
	mi := a.observed()
	if mi == nil {
		return nil
	}
	r, err := a.build(ctx, eng)
	if err != nil {
		return err
	}
	if !a.flap.admit(r) {
		a.log.Debug("status change held: the connection is flapping", "accountStatus", r.accountStatus,
			"reason", r.condReason, "until", a.flap.until)
		return nil // the latest state is written when the hold ends
	}
	a.mu.Lock()
	prev := a.last
	a.mu.Unlock()
	written, err := a.write(ctx, mi, r)
	if err != nil || !written {
		return err
	}
	a.log.Debug("status written", "accountStatus", r.accountStatus, "reason", r.condReason)
	if typ, reason := a.flap.written(prev, r); reason != "" {
		a.recordEvent(ctx, mi, typ, reason, r.condMessage)
	}
	return nil
}

// recordEvent records an Event about a connection transition; a failure is only logged.
func (a *Agent) recordEvent(ctx context.Context, mi *v1alpha1.MessengerInstance, typ, reason, note string) {
	ectx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := a.flap.sink.record(ectx, mi, typ, reason, note); err != nil {
		a.log.Warn("recording a connection event", "reason", reason, "error", err)
	}
}

// build reads the engine and the store into a report.
func (a *Agent) build(ctx context.Context, eng account.Engine) (report, error) {
	st := eng.Status()
	r := report{accountStatus: st.AccountStatus, webhookURL: a.opts.Store.Settings().WebhookURL}
	if st.AccountStatus == account.StatusGotQRCode {
		r.qrText = st.QR
	}
	if me, err := eng.Me(ctx); err == nil {
		r.phone = me.Phone
	}
	r.condStatus, r.condReason, r.condMessage = condition(st)
	var err error
	if r.lastMessageNumber, err = a.opts.Store.LastMessageNumber(ctx); err != nil {
		return r, fmt.Errorf("reading the last message number: %w", err)
	}
	queued, _, err := a.opts.Store.ListQueue(ctx, 0)
	if err != nil {
		return r, fmt.Errorf("reading the queue length: %w", err)
	}
	r.queueLength = int64(queued)
	a.mu.Lock()
	r.handledLogout = a.handled
	a.mu.Unlock()
	return r, nil
}

// condition maps the account status to the Authenticated condition: True means "can send now".
func condition(st account.Status) (metav1.ConditionStatus, string, string) {
	msg := st.Message
	switch {
	case st.AccountStatus == account.StatusAuthenticated && st.Substatus == account.SubstatusConnected:
		return metav1.ConditionTrue, ReasonConnected, "the account is logged in and connected: messages can be sent"
	case st.AccountStatus == account.StatusGotQRCode:
		if msg == "" {
			msg = "scan status.qrCode with the phone"
		}
		return metav1.ConditionFalse, ReasonAwaitingScan, msg
	}
	if msg == "" {
		msg = "account status " + st.AccountStatus
	}
	return metav1.ConditionFalse, reasonOf(st), msg
}

// reasonOf turns a substatus into a CamelCase condition reason.
func reasonOf(st account.Status) string {
	switch st.Substatus {
	case account.SubstatusConnecting:
		return "Connecting"
	case account.SubstatusPairing:
		return "Pairing"
	case account.SubstatusConnected:
		return "Connected"
	case account.SubstatusConflict:
		return "Conflict"
	case account.SubstatusLoggedOut:
		return "LoggedOut"
	case account.SubstatusBanned:
		return "Banned"
	case account.SubstatusOutdated:
		return "Outdated"
	case account.SubstatusOffline:
		return "Offline"
	case account.SubstatusStale:
		return ReasonStale
	}
	return "Initializing"
}

// write applies r when it differs from the last report written, and tells whether it did.
func (a *Agent) write(ctx context.Context, mi *v1alpha1.MessengerInstance, r report) (bool, error) {
	a.mu.Lock()
	last, since := a.last, a.since
	a.mu.Unlock()
	if last != nil && *last == r {
		return false, nil
	}
	switch {
	case last == nil:
		// Keep the transition time already in status when the condition did not change.
		since = now()
		if c := meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionAuthenticated); c != nil && c.Status == r.condStatus {
			since = c.LastTransitionTime
		}
	case last.condStatus != r.condStatus:
		since = now()
	}
	body, err := a.applyBody(r, since)
	if err != nil {
		return false, err
	}
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	force := true
	_, err = a.res.Patch(wctx, a.opts.Name, types.ApplyPatchType, body,
		metav1.PatchOptions{FieldManager: FieldManager, Force: &force}, "status")
	if err != nil {
		return false, fmt.Errorf("applying status of MessengerInstance %s/%s: %w", a.opts.Namespace, a.opts.Name, err)
	}
	a.mu.Lock()
	a.last, a.since = &r, since
	a.mu.Unlock()
	return true, nil
}

// forget makes the next sync write even an unchanged report (the resource was recreated).
func (a *Agent) forget() {
	a.mu.Lock()
	a.last = nil
	a.mu.Unlock()
	signal(a.wake)
}

// applyBody is the server-side-apply document of r: every field the agent owns that has a
// value. A field left out is removed from status, as the agent owned it.
func (a *Agent) applyBody(r report, since metav1.Time) ([]byte, error) {
	st := v1alpha1ac.MessengerInstanceStatus().
		WithAccountStatus(r.accountStatus).
		WithConditions(metav1ac.Condition().
			WithType(v1alpha1.ConditionAuthenticated).WithStatus(r.condStatus).
			WithReason(r.condReason).WithMessage(r.condMessage).WithLastTransitionTime(since))
	if r.qrText != "" {
		uri, err := a.qrDataURI(r.qrText)
		if err != nil {
			return nil, err
		}
		st.WithQRCode(uri)
	}
	if r.phone != "" {
		st.WithPhone(r.phone)
	}
	if r.webhookURL != "" {
		st.WithWebhookURL(r.webhookURL)
	}
	if r.queueLength > 0 {
		st.WithQueueLength(r.queueLength)
	}
	if r.lastMessageNumber > 0 {
		st.WithLastMessageNumber(r.lastMessageNumber)
	}
	if r.handledLogout != "" {
		st.WithLastHandledLogout(r.handledLogout)
	}
	body, err := json.Marshal(v1alpha1ac.MessengerInstance(a.opts.Name, a.opts.Namespace).WithStatus(st))
	if err != nil {
		return nil, fmt.Errorf("encoding status: %w", err)
	}
	return body, nil
}

// qrDataURI renders a QR text, reusing the last rendering.
func (a *Agent) qrDataURI(text string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.qrText != text {
		uri, err := qr.DataURI(text)
		if err != nil {
			return "", err
		}
		a.qrText, a.qrURI = text, uri
	}
	return a.qrURI, nil
}

// stepDown runs once the engine stopped: if this process still holds the Lease, it reports that
// the instance stopped (Authenticated=False, no QR) and releases the Lease for a successor.
func (a *Agent) stepDown(ctx context.Context, eng account.Engine) error {
	holder, err := a.lease.holder(ctx)
	if err != nil || holder != a.lease.identity {
		return err
	}
	var werr error
	if mi := a.observed(); mi != nil {
		r, err := a.build(ctx, eng)
		if err == nil {
			r.qrText = ""
			if r.accountStatus == account.StatusGotQRCode {
				r.accountStatus = account.StatusLoading
			}
			r.condStatus, r.condReason, r.condMessage = metav1.ConditionFalse, ReasonStopped, "the instance process stopped"
			_, err = a.write(ctx, mi, r)
		}
		if !apierrors.IsNotFound(err) { // a deleted resource needs no last word
			werr = err
		}
	}
	return errors.Join(werr, a.lease.release(ctx))
}
