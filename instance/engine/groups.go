package engine

import (
	"context"
	"errors"
	"fmt"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// The engine reads groups synchronously for the API.
var _ account.Groups = (*Engine)(nil)

// GroupInfo returns a group's subject, description, owner and participants with their admin flags.
func (e *Engine) GroupInfo(ctx context.Context, groupID string) (account.GroupInfo, error) {
	cli, jid, err := e.groupClient(groupID)
	if err != nil {
		return account.GroupInfo{}, err
	}
	info, err := cli.GetGroupInfo(ctx, jid)
	if err != nil {
		return account.GroupInfo{}, groupError(err)
	}
	out := account.GroupInfo{ChatID: chat.ID{Kind: chat.Group, User: jid.User}.String(), Subject: info.Name,
		Description: info.Topic, Creation: info.GroupCreated.Unix(), Participants: []account.GroupParticipant{}}
	if !info.OwnerJID.IsEmpty() || !info.OwnerPN.IsEmpty() {
		out.Owner = e.chatIDOf(cli, ownerJID(info), info.OwnerPN).String()
	}
	for _, p := range info.Participants {
		id := e.chatIDOf(cli, p.JID, p.PhoneNumber)
		gp := account.GroupParticipant{ChatID: id.String(), IsAdmin: p.IsAdmin, IsSuperAdmin: p.IsSuperAdmin}
		if id.Kind == chat.Person {
			gp.Phone = id.User
		}
		out.Participants = append(out.Participants, gp)
	}
	return out, nil
}

func ownerJID(info *types.GroupInfo) types.JID {
	if !info.OwnerJID.IsEmpty() {
		return info.OwnerJID
	}
	return info.OwnerPN
}

// GroupInviteLink returns the group's invite link; reset revokes the old one first.
func (e *Engine) GroupInviteLink(ctx context.Context, groupID string, reset bool) (string, error) {
	cli, jid, err := e.groupClient(groupID)
	if err != nil {
		return "", err
	}
	link, err := cli.GetGroupInviteLink(ctx, jid, reset)
	if err != nil {
		return "", groupError(err)
	}
	return link, nil
}

// groupClient returns the logged-in client and the group's JID.
func (e *Engine) groupClient(groupID string) (*whatsmeow.Client, types.JID, error) {
	id, err := chat.ParseChatID(groupID)
	if err != nil || id.Kind != chat.Group {
		return nil, types.JID{}, fmt.Errorf("%w: %s is not a group chat id", account.ErrGroupNotFound, groupID)
	}
	cli := e.loggedIn()
	if cli == nil {
		return nil, types.JID{}, account.ErrNotAuthenticated
	}
	return cli, types.NewJID(id.User, types.GroupServer), nil
}

// groupError maps whatsmeow's group errors to the account package's.
func groupError(err error) error {
	switch {
	case errors.Is(err, whatsmeow.ErrGroupNotFound), errors.Is(err, whatsmeow.ErrIQNotFound):
		return fmt.Errorf("%w: %v", account.ErrGroupNotFound, err)
	case errors.Is(err, whatsmeow.ErrGroupInviteLinkUnauthorized), errors.Is(err, whatsmeow.ErrIQNotAuthorized):
		return fmt.Errorf("%w: %v", account.ErrNotGroupAdmin, err)
	case errors.Is(err, whatsmeow.ErrNotInGroup), errors.Is(err, whatsmeow.ErrIQForbidden):
		return fmt.Errorf("%w: %v", account.ErrNotInGroup, err)
	case disconnected(err):
		return fmt.Errorf("%w: %v", account.ErrUnavailable, err)
	}
	return fmt.Errorf("reading group: %w", err)
}
