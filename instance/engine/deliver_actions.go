package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// ParticipantResult is the outcome for one participant of a group_participants action, as its
// item's result (JSON) keeps it.
type ParticipantResult struct {
	ChatID string `json:"chatId"`
	// Error is WhatsApp's code for a participant not changed (e.g. 409: already a member), 0 if fine.
	Error int `json:"error,omitempty"`
}

// deliverAction carries out a queued group action. Actions make no journal entry; the result is
// the joined group's chat id (join) or the per-participant outcome (participants).
func (e *Engine) deliverAction(ctx context.Context, cli *whatsmeow.Client, it store.Item, p queue.Payload) (string, *chat.Message, error) {
	if join, ok := p.(queue.GroupJoin); ok {
		jid, err := cli.JoinGroupWithLink(ctx, join.Code)
		if err != nil {
			return "", nil, fmt.Errorf("joining group: %w", err)
		}
		return chat.ID{Kind: chat.Group, User: jid.User}.String(), nil, nil
	}
	id, err := chat.ParseChatID(it.ChatID)
	if err != nil || id.Kind != chat.Group {
		return "", nil, fmt.Errorf("%w: %q is not a group chat id", errPermanent, it.ChatID)
	}
	group := types.NewJID(id.User, types.GroupServer)
	switch p := p.(type) {
	case queue.GroupParticipants:
		return e.changeParticipants(ctx, cli, group, p, retried(it))
	case queue.GroupLeave:
		err := cli.LeaveGroup(ctx, group)
		if retried(it) && errors.Is(err, whatsmeow.ErrIQForbidden) {
			err = nil // an earlier attempt left, its answer lost
		}
		return "", nil, wrapAction("leaving group", err)
	case queue.GroupSubject:
		return "", nil, wrapAction("setting group subject", cli.SetGroupName(ctx, group, p.Subject))
	case queue.GroupDescription:
		return "", nil, wrapAction("setting group description", cli.SetGroupTopic(ctx, group, "", "", p.Description))
	}
	return "", nil, fmt.Errorf("%w: action kind %q is unknown", errPermanent, it.Kind)
}

// retried reports whether an earlier attempt of the item was made: it may have taken effect with
// its answer lost, so finding the change already done counts as done.
func retried(it store.Item) bool { return !it.LastTry.IsZero() }

// doneAlready reports a participant error that means an earlier attempt did the change: already
// a member (409) after an add, not a member (404) after a remove.
func doneAlready(action string, code int) bool {
	return action == queue.ParticipantAdd && code == 409 || action == queue.ParticipantRemove && code == 404
}

func wrapAction(what string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// changeParticipants applies a participant change. It fails (for good) when no participant could
// be changed (on a retry, one found already changed counts as changed); otherwise the result lists
// each participant's outcome.
func (e *Engine) changeParticipants(ctx context.Context, cli *whatsmeow.Client, group types.JID, p queue.GroupParticipants, retry bool) (string, *chat.Message, error) {
	jids := make([]types.JID, 0, len(p.Participants))
	for _, raw := range p.Participants {
		id, err := chat.ParseChatID(raw)
		if err != nil || id.Kind == chat.Group {
			return "", nil, fmt.Errorf("%w: participant %q is not a person's chat id", errPermanent, raw)
		}
		jid, _ := types.ParseJID(id.JID())
		if id.Kind == chat.Person && p.Action == queue.ParticipantAdd {
			if err := e.checkOnWhatsApp(ctx, cli, jid); err != nil {
				return "", nil, err
			}
		}
		jids = append(jids, jid)
	}
	res, err := cli.UpdateGroupParticipants(ctx, group, jids, whatsmeow.ParticipantChange(p.Action))
	if err != nil {
		return "", nil, fmt.Errorf("%s participants: %w", p.Action, err)
	}
	out := make([]ParticipantResult, 0, len(res))
	var failed []string
	for _, r := range res {
		pr := ParticipantResult{ChatID: e.chatIDOf(cli, r.JID, r.PhoneNumber).String(), Error: r.Error}
		if pr.Error != 0 && !(retry && doneAlready(p.Action, pr.Error)) {
			failed = append(failed, fmt.Sprintf("%s: %d", pr.ChatID, pr.Error))
		}
		out = append(out, pr)
	}
	if len(failed) == len(out) && len(out) > 0 {
		return "", nil, fmt.Errorf("%w: no participant could be changed (%s)", errPermanent, strings.Join(failed, ", "))
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return "", nil, fmt.Errorf("%w: encoding participant results: %v", errPermanent, err)
	}
	return string(raw), nil, nil
}
