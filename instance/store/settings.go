package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Settings are the user-changeable settings of an instance (GET /settings).
type Settings struct {
	// WebhookURL is where webhook batches are POSTed; empty turns webhooks off.
	WebhookURL string
	// AckNotifications adds ack entries to webhooks.
	AckNotifications bool
	// ChatUpdates adds group events (participants, subject) to webhooks' chatUpdate list.
	ChatUpdates bool
	// IgnoreOldMessages keeps messages that reached the account while the instance was away out of
	// webhooks (they are still journaled and listed by GET /messages).
	IgnoreOldMessages bool
	// SendDelay is the least time between two sends of the queue.
	SendDelay time.Duration
	// SendJitter is the most random time added to SendDelay before each send.
	SendJitter time.Duration
	// DailyLimit is the most sends per day (UTC); 0 is no limit. Sends beyond it wait for the next day.
	DailyLimit int
}

// setting is how one field of Settings is kept in mo_settings.
type setting struct {
	name  string
	get   func(Settings) string
	apply func(*Settings, string)
}

// settingFields are the stored settings; a name missing from mo_settings keeps its zero value.
var settingFields = []setting{
	{"webhook_url", func(s Settings) string { return s.WebhookURL }, func(s *Settings, v string) { s.WebhookURL = v }},
	{"ack_notifications", func(s Settings) string { return boolText(s.AckNotifications) },
		func(s *Settings, v string) { s.AckNotifications = v == "1" }},
	{"chat_updates", func(s Settings) string { return boolText(s.ChatUpdates) },
		func(s *Settings, v string) { s.ChatUpdates = v == "1" }},
	{"ignore_old_messages", func(s Settings) string { return boolText(s.IgnoreOldMessages) },
		func(s *Settings, v string) { s.IgnoreOldMessages = v == "1" }},
	{"send_delay_ms", func(s Settings) string { return strconv.FormatInt(s.SendDelay.Milliseconds(), 10) },
		func(s *Settings, v string) { s.SendDelay = millis(v) }},
	{"send_jitter_ms", func(s Settings) string { return strconv.FormatInt(s.SendJitter.Milliseconds(), 10) },
		func(s *Settings, v string) { s.SendJitter = millis(v) }},
	{"daily_limit", func(s Settings) string { return strconv.Itoa(s.DailyLimit) },
		func(s *Settings, v string) { s.DailyLimit, _ = strconv.Atoi(v) }},
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func millis(v string) time.Duration {
	n, _ := strconv.ParseInt(v, 10, 64)
	return time.Duration(n) * time.Millisecond
}

func (s *Store) loadSettings(ctx context.Context) error {
	var st Settings
	for _, f := range settingFields {
		v, err := s.readSetting(ctx, f.name)
		if err != nil {
			return err
		}
		f.apply(&st, v)
	}
	s.settings.Store(&st)
	return nil
}

func (s *Store) readSetting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM mo_settings WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading setting %s: %w", name, err)
	}
	return v, nil
}

// Settings returns the current settings.
func (s *Store) Settings() Settings { return *s.settings.Load() }

// SetWebhookURL stores the webhook URL (empty turns webhooks off).
func (s *Store) SetWebhookURL(ctx context.Context, url string) error {
	_, err := s.UpdateSettings(ctx, "", func(st *Settings) { st.WebhookURL = url })
	return err
}

// SetAckNotifications turns ack entries in webhooks on or off.
func (s *Store) SetAckNotifications(ctx context.Context, on bool) error {
	_, err := s.UpdateSettings(ctx, "", func(st *Settings) { st.AckNotifications = on })
	return err
}

// UpdateSettings applies change to the settings in one transaction and returns the new settings.
// When by is not empty and something changed, the change is kept in the instance's history
// (GET /instanceStatuses) as made by it ("api", "spec").
func (s *Store) UpdateSettings(ctx context.Context, by string, change func(*Settings)) (Settings, error) {
	var next Settings
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		cur := s.Settings()
		next = cur
		change(&next)
		changed := map[string]string{}
		for _, f := range settingFields {
			v := f.get(next)
			if v == f.get(cur) {
				continue
			}
			changed[f.name] = v
			_, err := tx.ExecContext(ctx, `INSERT INTO mo_settings (name, value) VALUES ($1, $2)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value`, f.name, v)
			if err != nil {
				return fmt.Errorf("writing setting %s: %w", f.name, err)
			}
		}
		if by != "" && len(changed) > 0 {
			if err := addHistory(ctx, tx, HistoryEntry{Kind: HistorySettings, By: by, Settings: redactSettings(changed)}); err != nil {
				return err
			}
		}
		// Applied inside the writer so later requests of the same batch see it.
		s.settings.Store(&next)
		return nil
	})
	if err != nil {
		// The in-memory copy may have been changed by a rolled-back attempt: reload the truth.
		_ = s.loadSettings(context.WithoutCancel(ctx))
		return Settings{}, err
	}
	return next, nil
}

// redactSettings keeps a webhook URL's presence in the history, not the URL (it may carry a token).
func redactSettings(changed map[string]string) map[string]string {
	if u, ok := changed["webhook_url"]; ok {
		changed["webhook_url"] = map[bool]string{true: "set", false: "off"}[u != ""]
	}
	return changed
}
