package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// MaxURLLength caps a webhook URL.
const MaxURLLength = 2048

type webhookRequest struct {
	WebhookURL *string `json:"webhookUrl"`
}

// getWebhook answers the stored URL; "error" says why a URL given at start (--webhook-url,
// spec.webhook.url) was refused, or why the stored one can no longer be delivered to.
func (s *Server) getWebhook(c *gin.Context) {
	u := s.opts.Store.Settings().WebhookURL
	body := gin.H{"set": u != "", "webhookUrl": u}
	if reason := s.opts.WebhookRefused.Reason(); reason != "" {
		body["error"] = reason
	} else if err := CheckWebhookURL(c.Request.Context(), s.opts.WebhookGuard, u); err != nil {
		body["error"] = err.Error()
	}
	c.JSON(http.StatusOK, body)
}

// RefusedWebhook remembers why a webhook URL given outside the API was refused. The zero value
// (and nil) holds no reason; it is safe for concurrent use.
type RefusedWebhook struct {
	mu     sync.Mutex
	reason string
}

// Set records the reason; an empty one clears it.
func (r *RefusedWebhook) Set(reason string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.reason = reason
	r.mu.Unlock()
}

// Reason returns the recorded reason, or "".
func (r *RefusedWebhook) Reason() string {
	if r == nil {
		return ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason
}

// setWebhook sets the webhook URL; an empty string turns webhooks off.
func (s *Server) setWebhook(c *gin.Context) {
	var req webhookRequest
	if !bind(c, &req) {
		return
	}
	if req.WebhookURL == nil {
		abort(c, http.StatusBadRequest, "webhookUrl is required (an empty string turns webhooks off)")
		return
	}
	if s.webhookManaged(c) {
		return
	}
	u := strings.TrimSpace(*req.WebhookURL)
	if err := CheckWebhookURL(c.Request.Context(), s.opts.WebhookGuard, u); err != nil {
		abort(c, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	if _, err := s.opts.Store.UpdateSettings(c.Request.Context(), "api", func(st *store.Settings) { st.WebhookURL = u }); err != nil {
		s.log.Error("storing webhook URL", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not store the webhook URL")
		return
	}
	s.opts.WebhookRefused.Set("")
	if s.opts.Webhook != nil {
		s.opts.Webhook.Changed()
	}
	c.JSON(http.StatusOK, gin.H{"set": true, "webhookUrl": u})
}

// ValidateWebhookURL accepts empty (off) or an absolute http(s) URL without credentials: the
// syntax only. CheckWebhookURL also checks where it leads.
func ValidateWebhookURL(u string) error {
	if u == "" {
		return nil
	}
	if len(u) > MaxURLLength {
		return errString("webhookUrl is too long")
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return errString("webhookUrl must be an absolute http or https URL")
	}
	if p.User != nil {
		return errString("webhookUrl must not hold credentials; use --webhook-secret for signing")
	}
	return nil
}

// CheckWebhookURL is ValidateWebhookURL plus where the URL leads: it refuses a URL the webhook
// guard would never deliver to (a loopback, private, link-local, metadata or reserved address,
// literal or resolved, outside the guard's allowed networks). A name that does not resolve yet is
// accepted: it may resolve later, and every delivery is checked again when it dials.
func CheckWebhookURL(ctx context.Context, guard fetch.Guard, u string) error {
	if err := ValidateWebhookURL(u); err != nil || u == "" {
		return err
	}
	p, err := url.Parse(u)
	if err != nil {
		return errString("webhookUrl must be an absolute http or https URL")
	}
	if err := guard.CheckDestination(ctx, p); err != nil {
		return fmt.Errorf("webhookUrl would never be delivered to: %w", err)
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

type ackRequest struct {
	AckNotificationsOn flexBool `json:"ackNotificationsOn"`
}

// ackNotifications reads or (POST body, or GET ?ackNotificationsOn=) sets ack notifications.
func (s *Server) ackNotifications(c *gin.Context) {
	var set flexBool
	if c.Request.Method == http.MethodPost {
		var req ackRequest
		if !bind(c, &req) {
			return
		}
		set = req.AckNotificationsOn
		if !set.Set {
			abort(c, http.StatusBadRequest, "ackNotificationsOn is required: 1 or 0")
			return
		}
	} else if raw, ok := c.GetQuery("ackNotificationsOn"); ok {
		v, err := parseBool(raw)
		if err != nil {
			abort(c, http.StatusBadRequest, "ackNotificationsOn: %v", err)
			return
		}
		set = flexBool{Set: true, Value: v}
	}
	if set.Set {
		if s.webhookManaged(c) {
			return
		}
		on := set.Value
		if _, err := s.opts.Store.UpdateSettings(c.Request.Context(), "api", func(st *store.Settings) { st.AckNotifications = on }); err != nil {
			s.log.Error("storing ack setting", "error", err)
			abort(c, http.StatusServiceUnavailable, "could not store the setting")
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"set": set.Set, "ackNotificationsOn": s.opts.Store.Settings().AckNotifications})
}

// webhookManaged answers 409 when the webhook settings are owned by something else (spec.webhook).
func (s *Server) webhookManaged(c *gin.Context) bool {
	if s.opts.Webhook == nil {
		return false
	}
	if owner := s.opts.Webhook.ManagedBy(); owner != "" {
		abort(c, http.StatusConflict, "the webhook settings are managed by %s; change them there", owner)
		return true
	}
	return false
}
