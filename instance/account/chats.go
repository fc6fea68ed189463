package account

import (
	"context"
	"errors"
)

// Typing states of POST /typing.
const (
	TypingComposing = "composing"
	TypingRecording = "recording"
	TypingPaused    = "paused"
)

// ErrBadValue is wrapped by engine errors about a value the caller gave (a typing state, a
// picture WhatsApp refuses) — 422.
var ErrBadValue = errors.New("invalid value")

// ReadTarget is one incoming message a read receipt names.
type ReadTarget struct {
	// WAID is the WhatsApp message id.
	WAID string
	// Sender is the Chat API id of the sender (the participant in groups).
	Sender string
	// Time is the message's time, unix seconds.
	Time int64
}

// PhoneCheck is the answer of CheckPhone.
type PhoneCheck struct {
	// Exists is true when the number is on WhatsApp.
	Exists bool
	// ChatID is the Chat API id to send to: <digits>@c.us, or <id>@lid when WhatsApp gave only a
	// privacy id.
	ChatID string
	// LID is the number's privacy id (<id>@lid) when known.
	LID string
}

// Contact is one known contact.
type Contact struct {
	// ID is the Chat API chat id, <digits>@c.us (or <id>@lid when no number is known).
	ID string `json:"id"`
	// Name is the best known name: the address-book name, else the business or push name.
	Name string `json:"name"`
	// PushName is the name the contact set for itself.
	PushName string `json:"pushname,omitempty"`
	// ShortName is the first name from the address book.
	ShortName string `json:"shortName,omitempty"`
}

// Profile is what POST /me changes; nil fields are left as they are.
type Profile struct {
	// Name is the push name.
	Name *string
	// About is the status text ("About").
	About *string
	// Picture is a JPEG image.
	Picture []byte
}

// GroupMetadata describes a group for /dialogs.
type GroupMetadata struct {
	Participants []string `json:"participants"`
	Admins       []string `json:"admins"`
	Subject      string   `json:"subject,omitempty"`
	Description  string   `json:"description,omitempty"`
}

// Chats is implemented by engines that can act on chats and the profile at once (not through the
// queue): read receipts, typing, number checks, contacts and the profile. Methods return
// ErrNotAuthenticated when the account is not logged in.
type Chats interface {
	// MarkRead sends read receipts for the given messages of a chat.
	MarkRead(ctx context.Context, chatID string, msgs []ReadTarget) error
	// Typing sends a chat state (one of the Typing constants) to a chat.
	Typing(ctx context.Context, chatID, state string) error
	// CheckPhone asks whether a phone number (digits) is on WhatsApp.
	CheckPhone(ctx context.Context, phone string) (PhoneCheck, error)
	// PhoneOf returns the phone-number chat id of a <id>@lid chat when the mapping is known, else
	// the id itself.
	PhoneOf(ctx context.Context, chatID string) string
	// Contacts returns the contacts the account knows.
	Contacts(ctx context.Context) ([]Contact, error)
	// GroupMetadata asks WhatsApp for a group's participants, admins, subject and description.
	GroupMetadata(ctx context.Context, groupID string) (GroupMetadata, error)
	// SetProfile changes the name, about text and picture of the account.
	SetProfile(ctx context.Context, p Profile) error
}
