package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Settings are the user-changeable settings of an instance.
type Settings struct {
	// WebhookURL is where webhook batches are POSTed; empty turns webhooks off.
	WebhookURL string
	// AckNotifications adds ack entries to webhooks.
	AckNotifications bool
}

const (
	settingWebhookURL = "webhook_url"
	settingAcks       = "ack_notifications"
)

func (s *Store) loadSettings(ctx context.Context) error {
	var st Settings
	url, err := s.readSetting(ctx, settingWebhookURL)
	if err != nil {
		return err
	}
	acks, err := s.readSetting(ctx, settingAcks)
	if err != nil {
		return err
	}
	st.WebhookURL, st.AckNotifications = url, acks == "1"
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
	return s.putSetting(ctx, settingWebhookURL, url, func(st *Settings) { st.WebhookURL = url })
}

// SetAckNotifications turns ack entries in webhooks on or off.
func (s *Store) SetAckNotifications(ctx context.Context, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return s.putSetting(ctx, settingAcks, v, func(st *Settings) { st.AckNotifications = on })
}

func (s *Store) putSetting(ctx context.Context, name, value string, apply func(*Settings)) error {
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO mo_settings (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
		if err != nil {
			return fmt.Errorf("writing setting %s: %w", name, err)
		}
		// Applied inside the writer so later requests of the same batch see it.
		st := s.Settings()
		apply(&st)
		s.settings.Store(&st)
		return nil
	})
	if err != nil {
		// The in-memory copy may have been changed by a rolled-back attempt: reload the truth.
		_ = s.loadSettings(context.WithoutCancel(ctx))
	}
	return err
}
