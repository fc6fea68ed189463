package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/account"
)

// logoutTimeout bounds one logout the annotation asks for.
const logoutTimeout = 30 * time.Second

// applySpecLoop applies the observed resource to the instance whenever it (or the Lease) changes:
// webhook settings from spec.webhook, other settings from spec.settings, and logout requests from the annotation. Failures are
// retried with backoff.
func (a *Agent) applySpecLoop(ctx context.Context, eng account.Engine, kick func()) {
	var retry retrier
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.specWake:
		case <-retry.C:
		}
		mi := a.observed()
		if mi == nil {
			retry.C = nil
			continue
		}
		err := errors.Join(a.applyWebhook(ctx, mi, kick), a.applySettings(ctx, mi, eng.WakeQueue), a.handleLogout(ctx, mi, eng))
		if ctx.Err() != nil {
			return
		}
		retry.done(a.log, "applying the MessengerInstance spec", err)
	}
}

// applyWebhook makes the stored webhook settings follow spec.webhook when it is set (spec wins
// over POST /webhook). When spec.webhook is removed, the URL it had set is turned off; a URL
// set through the API is left alone.
func (a *Agent) applyWebhook(ctx context.Context, mi *v1alpha1.MessengerInstance, kick func()) error {
	st := a.opts.Store
	cur := st.Settings()
	spec := mi.Spec.Webhook
	a.mu.Lock()
	specURL := a.specURL
	if spec != nil {
		a.specURL = spec.URL
	} else {
		a.specURL = ""
	}
	a.specSet = spec != nil
	a.mu.Unlock()
	changed := false
	switch {
	case spec != nil:
		if cur.WebhookURL != spec.URL {
			if err := st.SetWebhookURL(ctx, spec.URL); err != nil {
				return fmt.Errorf("storing spec.webhook.url: %w", err)
			}
			changed = true
		}
		if cur.AckNotifications != spec.AckNotifications {
			if err := st.SetAckNotifications(ctx, spec.AckNotifications); err != nil {
				return fmt.Errorf("storing spec.webhook.ackNotifications: %w", err)
			}
			changed = true
		}
	case specURL != "" && cur.WebhookURL == specURL:
		if err := st.SetWebhookURL(ctx, ""); err != nil {
			return fmt.Errorf("turning off the webhook of the removed spec.webhook: %w", err)
		}
		changed = true
	}
	if changed {
		now := st.Settings()
		a.log.Info("webhook settings applied from the MessengerInstance", "webhookSet", now.WebhookURL != "",
			"ackNotifications", now.AckNotifications)
		kick()
		signal(a.wake)
	}
	return nil
}

// handleLogout logs the account out once per new value of the logout annotation, and only in the
// process that holds the Lease; the value is then reported as lastHandledLogout.
func (a *Agent) handleLogout(ctx context.Context, mi *v1alpha1.MessengerInstance, eng account.Engine) error {
	want := mi.Annotations[v1alpha1.LogoutAnnotation]
	a.mu.Lock()
	handled := a.handled
	a.mu.Unlock()
	if want == "" || want == handled || !a.lease.Allowed() {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, logoutTimeout)
	defer cancel()
	if err := eng.Logout(lctx); err != nil {
		return fmt.Errorf("logout requested by annotation value %q: %w", want, err)
	}
	a.mu.Lock()
	a.handled = want
	a.mu.Unlock()
	a.log.Info("logged out as requested by annotation", "annotation", v1alpha1.LogoutAnnotation, "value", want)
	signal(a.wake)
	return nil
}

// WebhookManagedBy names what owns the webhook settings when it is not the API: spec.webhook of
// the instance's MessengerInstance while it is set, else "".
func (a *Agent) WebhookManagedBy() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.specSet {
		return ""
	}
	return "spec.webhook of MessengerInstance " + a.opts.Namespace + "/" + a.opts.Name
}
