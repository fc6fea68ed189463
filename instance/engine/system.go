package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// onJoinedGroup journals, as a system message of the group, that the account was added to it.
func (e *Engine) onJoinedGroup(cli *whatsmeow.Client, ev *events.JoinedGroup) bool {
	by := ""
	if ev.Sender != nil {
		by = e.chatIDOf(cli, *ev.Sender, deref(ev.SenderPN)).String()
	}
	body := fmt.Sprintf("joined group %q", ev.Name)
	if by != "" {
		body = fmt.Sprintf("%s added you to group %q", by, ev.Name)
	}
	return e.journal(systemMessage(ev.JID, by, body, ev.GroupCreated.Unix()))
}

// onGroupInfo journals membership and subject changes of a group as system messages.
func (e *Engine) onGroupInfo(cli *whatsmeow.Client, ev *events.GroupInfo) bool {
	by := ""
	if ev.Sender != nil {
		by = e.chatIDOf(cli, *ev.Sender, deref(ev.SenderPN)).String()
	}
	var parts []string
	names := func(jids []types.JID) string {
		out := make([]string, len(jids))
		for i, j := range jids {
			out[i] = e.chatIDOf(cli, j, types.EmptyJID).String()
		}
		return strings.Join(out, ", ")
	}
	if len(ev.Join) > 0 {
		parts = append(parts, "joined: "+names(ev.Join))
	}
	if len(ev.Leave) > 0 {
		parts = append(parts, "left: "+names(ev.Leave))
	}
	if ev.Name != nil {
		parts = append(parts, fmt.Sprintf("subject: %q", ev.Name.Name))
	}
	if len(parts) == 0 {
		return true
	}
	return e.journal(systemMessage(ev.JID, by, strings.Join(parts, "; "), ev.Timestamp.Unix()))
}

// systemMessage builds a system journal entry whose id is derived from its content, so that a
// notification WhatsApp delivers twice is journaled once.
func systemMessage(group types.JID, by, body string, t int64) chat.Message {
	gid := chat.ID{Kind: chat.Group, User: group.User}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|%s|%s|%d", gid, by, body, t)))
	return chat.Message{
		ID:   chat.MessageID{Chat: gid, WAID: "SYS" + strings.ToUpper(hex.EncodeToString(sum[:10]))}.String(),
		Type: chat.TypeSystem, Body: body, Author: by, ChatID: gid.String(), Time: t,
	}
}

func deref(j *types.JID) types.JID {
	if j == nil {
		return types.EmptyJID
	}
	return *j
}
