package chat

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Kind tells what a chat id names.
type Kind int

const (
	// Person is a user known by phone number: <digits>@c.us.
	Person Kind = iota + 1
	// Group is a group chat: <id>@g.us.
	Group
	// LID is a user known only by a WhatsApp privacy id: <id>@lid.
	LID
)

// Servers of the ids this package accepts and produces.
const (
	ServerChatAPI  = "c.us"
	ServerWhatsApp = "s.whatsapp.net"
	ServerGroup    = "g.us"
	ServerLID      = "lid"
)

// ErrBadChatID is wrapped by every chat id and phone parsing error.
var ErrBadChatID = errors.New("invalid chat id")

// ErrBadPhone is wrapped by every phone parsing error.
var ErrBadPhone = fmt.Errorf("%w: invalid phone number", ErrBadChatID)

// ID is a normalised chat id.
type ID struct {
	Kind Kind
	// User is the part before the @: digits for people and lids, digits and dashes for groups.
	User string
}

// String returns the Chat API form: <digits>@c.us, <id>@g.us or <id>@lid.
func (id ID) String() string {
	switch id.Kind {
	case Person:
		return id.User + "@" + ServerChatAPI
	case Group:
		return id.User + "@" + ServerGroup
	case LID:
		return id.User + "@" + ServerLID
	}
	return ""
}

// JID returns the WhatsApp (whatsmeow) form: <digits>@s.whatsapp.net, <id>@g.us or <id>@lid.
func (id ID) JID() string {
	if id.Kind == Person {
		return id.User + "@" + ServerWhatsApp
	}
	return id.String()
}

// IsZero reports whether id is the zero value.
func (id ID) IsZero() bool { return id.Kind == 0 }

// ParseChatID parses a chat id in any accepted form: <digits>@c.us, <digits>@s.whatsapp.net,
// <id>@g.us, <id>@lid. Device suffixes (<digits>:12@…) and other servers are refused.
func ParseChatID(s string) (ID, error) {
	s = strings.TrimSpace(s)
	user, server, ok := strings.Cut(s, "@")
	if !ok {
		return ID{}, fmt.Errorf("%w %q: want <digits>@c.us, <id>@g.us or <id>@lid", ErrBadChatID, s)
	}
	switch strings.ToLower(server) {
	case ServerChatAPI, ServerWhatsApp:
		if !isPhoneDigits(user) {
			return ID{}, fmt.Errorf("%w %q: the part before @ must be 5 to 15 digits", ErrBadChatID, s)
		}
		return ID{Kind: Person, User: user}, nil
	case ServerGroup:
		if !isGroupUser(user) {
			return ID{}, fmt.Errorf("%w %q: a group id is digits, optionally <digits>-<digits>", ErrBadChatID, s)
		}
		return ID{Kind: Group, User: user}, nil
	case ServerLID:
		if !isDigits(user) || len(user) > 32 {
			return ID{}, fmt.Errorf("%w %q: a lid is digits", ErrBadChatID, s)
		}
		return ID{Kind: LID, User: user}, nil
	}
	return ID{}, fmt.Errorf("%w %q: unknown server %q", ErrBadChatID, s, server)
}

// ParsePhone parses a phone number with country code. Spaces, dashes, dots, parentheses and a
// leading + are ignored; what is left must be 5 to 15 digits not starting with 0.
func ParsePhone(s string) (ID, error) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0, r == ' ', r == '-', r == '.', r == '(', r == ')':
		default:
			return ID{}, fmt.Errorf("%w %q: unexpected character %q", ErrBadPhone, s, r)
		}
	}
	digits := b.String()
	if !isPhoneDigits(digits) || digits[0] == '0' {
		return ID{}, fmt.Errorf("%w %q: want 5 to 15 digits starting with the country code", ErrBadPhone, s)
	}
	return ID{Kind: Person, User: digits}, nil
}

// Resolve turns the chatId / phone pair of a send request into one chat id. Either may be
// given, or both when they name the same chat. Clients mix the two up, so a chatId without an @
// is taken as a phone number and a phone with an @ as a chat id.
func Resolve(chatID, phone string) (ID, error) {
	chatID, phone = strings.TrimSpace(chatID), strings.TrimSpace(phone)
	switch {
	case chatID != "" && phone != "":
		id, err := parseEither(chatID)
		if err != nil {
			return ID{}, err
		}
		p, err := parseEither(phone)
		if err != nil {
			return ID{}, err
		}
		if id != p {
			return ID{}, fmt.Errorf("%w: chatId %q and phone %q name different chats", ErrBadChatID, chatID, phone)
		}
		return id, nil
	case chatID != "":
		return parseEither(chatID)
	case phone != "":
		return parseEither(phone)
	}
	return ID{}, fmt.Errorf("%w: chatId or phone is required", ErrBadChatID)
}

// parseEither parses a chat id when s has an @ and a phone number otherwise.
func parseEither(s string) (ID, error) {
	if strings.Contains(s, "@") {
		return ParseChatID(s)
	}
	return ParsePhone(s)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func isPhoneDigits(s string) bool { return isDigits(s) && len(s) >= 5 && len(s) <= 15 }

func isGroupUser(s string) bool {
	a, b, dash := strings.Cut(s, "-")
	if !isDigits(a) || len(s) > 40 {
		return false
	}
	return !dash || isDigits(b)
}

// MessageID is a Chat API message id: true|false_<chatId>_<whatsapp id>.
type MessageID struct {
	FromMe bool
	Chat   ID
	// WAID is the WhatsApp message id (e.g. 3EB0…).
	WAID string
}

// String returns the Chat API form of the message id.
func (m MessageID) String() string {
	return fmt.Sprintf("%t_%s_%s", m.FromMe, m.Chat, m.WAID)
}

// ParseMessageID parses true|false_<chatId>_<whatsapp id>[_<participant>] (the participant suffix of
// group messages is accepted and dropped).
func ParseMessageID(s string) (MessageID, error) {
	parts := strings.Split(s, "_")
	if len(parts) < 3 || len(parts) > 4 {
		return MessageID{}, fmt.Errorf("invalid message id %q: want true|false_<chatId>_<id>", s)
	}
	var m MessageID
	switch parts[0] {
	case "true":
		m.FromMe = true
	case "false":
	default:
		return MessageID{}, fmt.Errorf("invalid message id %q: must start with true_ or false_", s)
	}
	chatID, err := ParseChatID(parts[1])
	if err != nil {
		return MessageID{}, fmt.Errorf("invalid message id %q: %w", s, err)
	}
	if parts[2] == "" || !isWAID(parts[2]) {
		return MessageID{}, fmt.Errorf("invalid message id %q: bad WhatsApp id", s)
	}
	m.Chat, m.WAID = chatID, parts[2]
	return m, nil
}

func isWAID(s string) bool {
	if len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-') {
			return false
		}
	}
	return true
}

// NewWAID returns a fresh WhatsApp message id in the form WhatsApp Web uses (3EB0 and 18 upper
// case hex digits). The queue fixes it at enqueue time so a resend after a crash reuses it.
func NewWAID() string {
	var b [9]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // crypto/rand never fails on Linux
	}
	return "3EB0" + strings.ToUpper(hex.EncodeToString(b[:]))
}
