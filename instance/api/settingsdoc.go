package api

import (
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// Limits of the pacing settings.
const (
	// MaxSendDelay caps sendDelay and sendJitter, in seconds.
	MaxSendDelay = 3600
	// MaxDailyLimit caps dailyLimit.
	MaxDailyLimit = 1_000_000
)

// SpecSettings says which /settings fields the MessengerInstance's spec.settings owns.
type SpecSettings interface {
	// SettingsManagedBy names the owner (empty when nothing is owned) and the owned fields by
	// their /settings names.
	SettingsManagedBy() (owner string, fields []string)
}

// settingsDoc is GET /settings and the answer to POST /settings.
type settingsDoc struct {
	WebhookURL         string  `json:"webhookUrl"`
	AckNotificationsOn bool    `json:"ackNotificationsOn"`
	ChatUpdateOn       bool    `json:"chatUpdateOn"`
	IgnoreOldMessages  bool    `json:"ignoreOldMessages"`
	SendDelay          float64 `json:"sendDelay"`
	SendJitter         float64 `json:"sendJitter"`
	DailyLimit         int     `json:"dailyLimit"`
	// ManagedBySpec lists the fields the MessengerInstance's spec owns; POST /settings refuses them.
	ManagedBySpec []string `json:"managedBySpec"`
}

// settingsRequest is POST /settings: every field optional.
type settingsRequest struct {
	WebhookURL         *string          `json:"webhookUrl"`
	AckNotificationsOn flexBool         `json:"ackNotificationsOn"`
	ChatUpdateOn       flexBool         `json:"chatUpdateOn"`
	IgnoreOldMessages  flexBool         `json:"ignoreOldMessages"`
	SendDelay          *json.RawMessage `json:"sendDelay"`
	SendJitter         *json.RawMessage `json:"sendJitter"`
	DailyLimit         *json.RawMessage `json:"dailyLimit"`
}

// getSettings answers the settings document.
func (s *Server) getSettings(c *gin.Context) { c.JSON(http.StatusOK, s.settingsDoc()) }

func (s *Server) settingsDoc() settingsDoc {
	st := s.opts.Store.Settings()
	return settingsDoc{
		WebhookURL: st.WebhookURL, AckNotificationsOn: st.AckNotifications, ChatUpdateOn: st.ChatUpdates,
		IgnoreOldMessages: st.IgnoreOldMessages, SendDelay: st.SendDelay.Seconds(), SendJitter: st.SendJitter.Seconds(),
		DailyLimit: st.DailyLimit, ManagedBySpec: s.specOwned(),
	}
}

// specOwned lists the /settings fields the spec owns, in the document's order.
func (s *Server) specOwned() []string {
	owned := []string{}
	if s.opts.Webhook != nil && s.opts.Webhook.ManagedBy() != "" {
		owned = append(owned, "webhookUrl", "ackNotificationsOn")
	}
	if s.opts.SpecSettings != nil {
		_, fields := s.opts.SpecSettings.SettingsManagedBy()
		owned = append(owned, fields...)
	}
	return owned
}

// setSettings changes the fields the body names, all or none: a field the spec owns answers 409
// naming them, an invalid value 422; nothing is changed then.
func (s *Server) setSettings(c *gin.Context) {
	var req settingsRequest
	if !bind(c, &req) {
		return
	}
	change, named, ok := s.settingsChange(c, req)
	if !ok {
		return
	}
	if len(named) == 0 {
		abort(c, http.StatusBadRequest, "no settings given; fields: webhookUrl, ackNotificationsOn, chatUpdateOn, "+
			"ignoreOldMessages, sendDelay, sendJitter, dailyLimit")
		return
	}
	owned := s.specOwned()
	var refused []string
	for _, f := range named {
		if slices.Contains(owned, f) {
			refused = append(refused, f)
		}
	}
	if len(refused) > 0 {
		abort(c, http.StatusConflict, "%s managed by the MessengerInstance spec (%s); change them there",
			strings.Join(refused, ", "), s.specOwners())
		return
	}
	before := s.opts.Store.Settings()
	after, err := s.opts.Store.UpdateSettings(c.Request.Context(), "api", change)
	if err != nil {
		s.log.Error("storing settings", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not store the settings")
		return
	}
	if before.WebhookURL != after.WebhookURL {
		s.opts.WebhookRefused.Set("")
	}
	if s.opts.Webhook != nil && (before.WebhookURL != after.WebhookURL || before.AckNotifications != after.AckNotifications) {
		s.opts.Webhook.Changed()
	}
	s.opts.Engine.WakeQueue() // pacing may have been loosened
	c.JSON(http.StatusOK, s.settingsDoc())
}

// specOwners names what owns spec fields, for a 409.
func (s *Server) specOwners() string {
	var owners []string
	if s.opts.Webhook != nil {
		if o := s.opts.Webhook.ManagedBy(); o != "" {
			owners = append(owners, o)
		}
	}
	if s.opts.SpecSettings != nil {
		if o, _ := s.opts.SpecSettings.SettingsManagedBy(); o != "" {
			owners = append(owners, o)
		}
	}
	return strings.Join(owners, "; ")
}

// settingsChange validates the request and returns the change it asks for and the fields it names.
func (s *Server) settingsChange(c *gin.Context, req settingsRequest) (func(*store.Settings), []string, bool) {
	var steps []func(*store.Settings)
	var named []string
	if req.WebhookURL != nil {
		u := strings.TrimSpace(*req.WebhookURL)
		if err := CheckWebhookURL(c.Request.Context(), s.opts.WebhookGuard, u); err != nil {
			abort(c, http.StatusUnprocessableEntity, "webhookUrl: %v", err)
			return nil, nil, false
		}
		named = append(named, "webhookUrl")
		steps = append(steps, func(st *store.Settings) { st.WebhookURL = u })
	}
	for _, b := range []struct {
		name string
		v    flexBool
		set  func(*store.Settings, bool)
	}{
		{"ackNotificationsOn", req.AckNotificationsOn, func(st *store.Settings, v bool) { st.AckNotifications = v }},
		{"chatUpdateOn", req.ChatUpdateOn, func(st *store.Settings, v bool) { st.ChatUpdates = v }},
		{"ignoreOldMessages", req.IgnoreOldMessages, func(st *store.Settings, v bool) { st.IgnoreOldMessages = v }},
	} {
		if b.v.Set {
			named = append(named, b.name)
			steps = append(steps, func(st *store.Settings) { b.set(st, b.v.Value) })
		}
	}
	for _, d := range []struct {
		name string
		raw  *json.RawMessage
		set  func(*store.Settings, time.Duration)
	}{
		{"sendDelay", req.SendDelay, func(st *store.Settings, v time.Duration) { st.SendDelay = v }},
		{"sendJitter", req.SendJitter, func(st *store.Settings, v time.Duration) { st.SendJitter = v }},
	} {
		if d.raw == nil {
			continue
		}
		secs, ok := settingNumber(c, d.name, *d.raw, MaxSendDelay)
		if !ok {
			return nil, nil, false
		}
		v := time.Duration(secs * float64(time.Second)).Round(time.Millisecond)
		named = append(named, d.name)
		steps = append(steps, func(st *store.Settings) { d.set(st, v) })
	}
	if req.DailyLimit != nil {
		n, ok := settingNumber(c, "dailyLimit", *req.DailyLimit, MaxDailyLimit)
		if !ok {
			return nil, nil, false
		}
		if n != math.Trunc(n) {
			abort(c, http.StatusUnprocessableEntity, "dailyLimit must be a whole number of sends (0: no limit)")
			return nil, nil, false
		}
		named = append(named, "dailyLimit")
		steps = append(steps, func(st *store.Settings) { st.DailyLimit = int(n) })
	}
	return func(st *store.Settings) {
		for _, step := range steps {
			step(st)
		}
	}, named, true
}

// settingNumber reads a number (or a numeric string, as form bodies give) in [0, max].
func settingNumber(c *gin.Context, name string, raw json.RawMessage, max float64) (float64, bool) {
	var f flexString
	if err := json.Unmarshal(raw, &f); err != nil {
		abort(c, http.StatusUnprocessableEntity, "%s must be a number", name)
		return 0, false
	}
	var n float64
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(f))), &n); err != nil || math.IsNaN(n) {
		abort(c, http.StatusUnprocessableEntity, "%s must be a number, got %q", name, string(f))
		return 0, false
	}
	if n < 0 || n > max {
		abort(c, http.StatusUnprocessableEntity, "%s must be between 0 and %g", name, max)
		return 0, false
	}
	return n, true
}

// instanceStatuses answers the history of status and settings changes, newest first.
func (s *Server) instanceStatuses(c *gin.Context) {
	limit, ok := queryInt(c, "limit", 100)
	if !ok {
		return
	}
	if limit < 1 || limit > 1000 {
		abort(c, http.StatusUnprocessableEntity, "limit must be between 1 and 1000")
		return
	}
	h, err := s.opts.Store.History(c.Request.Context(), int(limit))
	if err != nil {
		s.log.Error("reading history", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not read the history: storage unavailable")
		return
	}
	c.JSON(http.StatusOK, gin.H{"statuses": h})
}

// pacing reports the queue's pacing when the engine paces it.
func (s *Server) pacing(c *gin.Context) *account.Pacing {
	p, ok := s.opts.Engine.(account.Pacer)
	if !ok {
		return nil
	}
	out, err := p.Pacing(c.Request.Context())
	if err != nil {
		s.log.Warn("reading the queue's pacing", "error", err)
		return nil
	}
	return &out
}
