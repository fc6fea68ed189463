package account

import (
	"context"
	"errors"
)

// Errors of group reads; the API maps them to status codes.
var (
	// ErrGroupNotFound: no such group — 404.
	ErrGroupNotFound = errors.New("group not found")
	// ErrNotInGroup: the account is not a member of the group — 403.
	ErrNotInGroup = errors.New("the account is not in this group")
	// ErrNotGroupAdmin: the account is a member but not an admin — 403.
	ErrNotGroupAdmin = errors.New("the account is not an admin of this group")
)

// GroupInfo describes a group (GET /groupInfo).
type GroupInfo struct {
	// ChatID is the group's chat id, <id>@g.us.
	ChatID      string `json:"chatId"`
	Subject     string `json:"subject"`
	Description string `json:"description"`
	// Owner is the chat id of the creator, when known.
	Owner string `json:"owner,omitempty"`
	// Creation is when the group was made, unix seconds.
	Creation     int64              `json:"creation"`
	Participants []GroupParticipant `json:"participants"`
}

// GroupParticipant is one member of a group.
type GroupParticipant struct {
	// ChatID is the member's chat id: <digits>@c.us, or <id>@lid when the number is unknown.
	ChatID       string `json:"chatId"`
	Phone        string `json:"phone,omitempty"`
	IsAdmin      bool   `json:"isAdmin"`
	IsSuperAdmin bool   `json:"isSuperAdmin"`
}

// Groups is implemented by engines that read groups synchronously (no queue).
type Groups interface {
	// GroupInfo returns the group with chat id groupID.
	GroupInfo(ctx context.Context, groupID string) (GroupInfo, error)
	// GroupInviteLink returns the group's invite link (https://chat.whatsapp.com/<code>); reset
	// revokes the old one first.
	GroupInviteLink(ctx context.Context, groupID string, reset bool) (string, error)
}
