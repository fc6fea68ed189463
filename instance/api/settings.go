package api

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// MaxURLLength caps a webhook URL.
const MaxURLLength = 2048

type webhookRequest struct {
	WebhookURL *string `json:"webhookUrl"`
}

func (s *Server) getWebhook(c *gin.Context) {
	u := s.opts.Store.Settings().WebhookURL
	c.JSON(http.StatusOK, gin.H{"set": u != "", "webhookUrl": u})
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
	if err := ValidateWebhookURL(u); err != nil {
		abort(c, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	if err := s.opts.Store.SetWebhookURL(c.Request.Context(), u); err != nil {
		s.log.Error("storing webhook URL", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not store the webhook URL")
		return
	}
	if s.opts.WebhookChanged != nil {
		s.opts.WebhookChanged()
	}
	c.JSON(http.StatusOK, gin.H{"set": true, "webhookUrl": u})
}

// ValidateWebhookURL accepts empty (off) or an absolute http(s) URL without credentials. Where it
// may connect is checked at delivery time by the SSRF guard.
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
		if err := s.opts.Store.SetAckNotifications(c.Request.Context(), set.Value); err != nil {
			s.log.Error("storing ack setting", "error", err)
			abort(c, http.StatusServiceUnavailable, "could not store the setting")
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"set": set.Set, "ackNotificationsOn": s.opts.Store.Settings().AckNotifications})
}

// webhookManaged answers 409 when the webhook settings are owned by something else (spec.webhook).
func (s *Server) webhookManaged(c *gin.Context) bool {
	if s.opts.WebhookManagedBy == nil {
		return false
	}
	if owner := s.opts.WebhookManagedBy(); owner != "" {
		abort(c, http.StatusConflict, "the webhook settings are managed by %s; change them there", owner)
		return true
	}
	return false
}
