package engine

import (
	"context"
	"errors"
	"fmt"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/types"

	"github.com/messenger-operator/messenger-operator/instance/account"
)

// SetProfile changes the account's about text, push name and picture, in that order, stopping at
// the first failure.
//
// The push name goes two ways: the app state setting (which the account's other devices follow)
// when whatsmeow holds app state keys, and always the presence stanza, whose name WhatsApp shows
// to others. A network that gave no app state keys (the sandbox) gets the presence only.
func (e *Engine) SetProfile(ctx context.Context, p account.Profile) error {
	cli := e.loggedIn()
	if cli == nil {
		return account.ErrNotAuthenticated
	}
	if p.About != nil {
		if err := cli.SetStatusMessage(ctx, types.SetStatusInput{Text: p.About}); err != nil {
			return fmt.Errorf("setting the about text: %w", err)
		}
	}
	if p.Name != nil {
		if err := e.setPushName(ctx, cli, *p.Name); err != nil {
			return err
		}
	}
	if p.Picture != nil {
		if _, err := cli.SetGroupPhoto(ctx, cli.Store.ID.ToNonAD(), p.Picture); err != nil {
			if errors.Is(err, whatsmeow.ErrInvalidImageFormat) {
				return fmt.Errorf("%w: WhatsApp refused the picture (a JPEG is needed): %w", account.ErrBadValue, err)
			}
			return fmt.Errorf("setting the profile picture: %w", err)
		}
	}
	return nil
}

func (e *Engine) setPushName(ctx context.Context, cli *whatsmeow.Client, name string) error {
	if err := cli.SendAppState(ctx, appstate.BuildSettingPushName(name)); err != nil {
		e.log.Info("push name not synced through app state; announcing it by presence only", "err", err)
	}
	cli.Store.PushName = name
	if err := cli.Store.Save(ctx); err != nil {
		return fmt.Errorf("saving the push name: %w", err)
	}
	if err := cli.SendPresence(ctx, types.PresenceAvailable); err != nil {
		return fmt.Errorf("announcing the push name: %w", err)
	}
	return nil
}
