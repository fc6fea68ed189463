package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// Chat is one row of the chat list (GET /dialogs): a chat the account has messages in or learnt of
// from WhatsApp's history sync.
type Chat struct {
	// ID is the Chat API chat id.
	ID string
	// Name is the contact's name or the group subject; "" when only the number is known.
	Name string
	// Image is the URL of the chat's picture, "" when unknown.
	Image string
	// LastTime is the time of the chat's latest message, unix seconds.
	LastTime int64
	// Unread counts the incoming messages not yet read.
	Unread int
	// Metadata is a group's metadata as JSON (participants, admins, subject, description); empty
	// for people and for groups not yet described.
	Metadata json.RawMessage
}

// ChatUpdate changes or creates a chat row (history sync, group metadata, seeding). Zero fields
// leave the stored value as it is.
type ChatUpdate struct {
	ID       string
	Name     string
	Image    string
	LastTime int64 // kept when older than the stored one
	// Unread, when set, replaces the unread count.
	Unread   *int
	Metadata json.RawMessage
}

// UnreadMessage is an incoming message of a chat not yet read: what a read receipt names.
type UnreadMessage struct {
	Number int64
	WAID   string
	// Author is the Chat API id of the sender (the participant in groups).
	Author string
	Time   int64
}

// countsAsUnread reports whether an incoming message of type t adds to its chat's unread count:
// reactions, edits, revocations, votes and system notices do not, as on a phone.
func countsAsUnread(t string) bool {
	switch t {
	case chat.TypeReaction, chat.TypeEdited, chat.TypeRevoked, chat.TypePollVote, chat.TypeSystem:
		return false
	}
	return true
}

// unreadTypes lists the types that never count, for the recount of MarkChatRead.
const unreadTypes = `'reaction', 'edited', 'revoked', 'poll_vote', 'e2e_notification'`

// touchChat keeps the chat row of a message just journaled: its latest time, its name (a real
// name is never replaced by the bare number or group id) and its unread count. It runs in the
// journal's write transaction.
func touchChat(ctx context.Context, tx *wtx, m chat.Message) error {
	unread := 0
	if !m.FromMe && countsAsUnread(m.Type) {
		unread = 1
	}
	bare := m.ChatID
	if i := strings.IndexByte(bare, '@'); i >= 0 {
		bare = bare[:i]
	}
	name := m.ChatName
	if name == bare {
		name = ""
	}
	if err := ensureChat(ctx, tx, m.ChatID); err != nil {
		return err
	}
	_, err := tx.execCached(ctx, `UPDATE mo_chats SET
			name = CASE WHEN $2 = '' THEN name ELSE $2 END,
			last_time = CASE WHEN $3 > last_time THEN $3 ELSE last_time END,
			unread = unread + $4
		WHERE id = $1`, m.ChatID, name, m.Time, unread)
	if err != nil {
		return fmt.Errorf("updating chat %s: %w", m.ChatID, err)
	}
	return nil
}

// ensureChat creates the chat's row when it is new, counting it (the 'chats' counter is the
// list's total, so GET /dialogs needs no COUNT over the table).
func ensureChat(ctx context.Context, tx *wtx, id string) error {
	res, err := tx.execCached(ctx, `INSERT INTO mo_chats (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, id)
	if err != nil {
		return fmt.Errorf("adding chat %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	_, err = nextNumbers(ctx, tx, "chats", 1)
	return err
}

// PutChats applies updates to the chat list in one transaction, creating the chats not yet known.
func (s *Store) PutChats(ctx context.Context, updates []ChatUpdate) error {
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		for _, u := range updates {
			if err := putChat(ctx, tx, u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put chats: %w", err)
	}
	return nil
}

func putChat(ctx context.Context, tx *wtx, u ChatUpdate) error {
	if u.ID == "" {
		return errors.New("a chat update needs an id")
	}
	unread, setUnread := 0, u.Unread != nil
	if setUnread {
		unread = *u.Unread
	}
	if err := ensureChat(ctx, tx, u.ID); err != nil {
		return err
	}
	_, err := tx.execCached(ctx, `UPDATE mo_chats SET
			name = CASE WHEN $2 = '' THEN name ELSE $2 END,
			image = CASE WHEN $3 = '' THEN image ELSE $3 END,
			last_time = CASE WHEN $4 > last_time THEN $4 ELSE last_time END,
			unread = CASE WHEN $6 THEN $5 ELSE unread END,
			metadata = CASE WHEN $7 = '' THEN metadata ELSE $7 END
		WHERE id = $1`, u.ID, u.Name, u.Image, u.LastTime, unread, setUnread, string(u.Metadata))
	if err != nil {
		return fmt.Errorf("updating chat %s: %w", u.ID, err)
	}
	return nil
}

// ChatQuery pages the chat list, newest activity first.
type ChatQuery struct {
	// Limit caps how many chats are returned; it must be positive.
	Limit int
	// Offset skips the first chats.
	Offset int
}

const chatColumns = `id, name, image, last_time, unread, metadata`

// Chats returns one page of the chat list, most recent activity first (ties by id), and how many
// chats there are. The mo_chats_recent index serves the order and a counter the total.
func (s *Store) Chats(ctx context.Context, q ChatQuery) ([]Chat, int, error) {
	if q.Limit <= 0 || q.Offset < 0 {
		return nil, 0, fmt.Errorf("listing chats: bad page (limit %d, offset %d)", q.Limit, q.Offset)
	}
	chats, err := s.queryChats(ctx, chatsSQL, q.Limit, q.Offset)
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM mo_counters WHERE name = 'chats'`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting chats: %w", err)
	}
	return chats, total, nil
}

const chatsSQL = `SELECT ` + chatColumns + ` FROM mo_chats ORDER BY last_time DESC, id DESC LIMIT $1 OFFSET $2`

// Chat returns one chat (ErrNotFound when the list does not hold it).
func (s *Store) Chat(ctx context.Context, id string) (Chat, error) {
	chats, err := s.queryChats(ctx, `SELECT `+chatColumns+` FROM mo_chats WHERE id = $1`, id)
	if err != nil {
		return Chat{}, err
	}
	if len(chats) == 0 {
		return Chat{}, fmt.Errorf("chat %s: %w", id, ErrNotFound)
	}
	return chats[0], nil
}

func (s *Store) queryChats(ctx context.Context, query string, args ...any) ([]Chat, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("querying chats: %w", err)
	}
	defer func() { _ = rows.Close() }()
	chats := []Chat{}
	for rows.Next() {
		var c Chat
		var meta string
		if err := rows.Scan(&c.ID, &c.Name, &c.Image, &c.LastTime, &c.Unread, &meta); err != nil {
			return nil, fmt.Errorf("reading chat row: %w", err)
		}
		if meta != "" {
			c.Metadata = json.RawMessage(meta)
		}
		chats = append(chats, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading chats: %w", err)
	}
	return chats, nil
}

// UnreadMessages returns up to limit of the chat's incoming messages after the last read one,
// oldest first: those a read receipt should name.
func (s *Store) UnreadMessages(ctx context.Context, chatID string, limit int) ([]UnreadMessage, error) {
	var read int64
	err := s.db.QueryRowContext(ctx, `SELECT read_number FROM mo_chats WHERE id = $1`, chatID).Scan(&read)
	if errors.Is(err, sql.ErrNoRows) {
		return []UnreadMessage{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading chat %s: %w", chatID, err)
	}
	msgs, err := s.queryMessages(ctx, `SELECT data FROM mo_messages
		WHERE chat_id = $1 AND message_number > $2 AND from_me = $3 AND type NOT IN (`+unreadTypes+`)
		ORDER BY message_number LIMIT $4`, chatID, read, false, limit)
	if err != nil {
		return nil, fmt.Errorf("unread messages of %s: %w", chatID, err)
	}
	out := make([]UnreadMessage, 0, len(msgs))
	for _, m := range msgs {
		id, err := chat.ParseMessageID(m.ID)
		if err != nil {
			return nil, fmt.Errorf("unread messages of %s: %w", chatID, err)
		}
		out = append(out, UnreadMessage{Number: m.MessageNumber, WAID: id.WAID, Author: m.Author, Time: m.Time})
	}
	return out, nil
}

// MarkChatRead records that the chat is read through message number through: its unread count
// becomes the number of counted incoming messages after it (0 when through is the latest).
func (s *Store) MarkChatRead(ctx context.Context, chatID string, through int64) error {
	err := s.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE mo_chats SET
			read_number = CASE WHEN $2 > read_number THEN $2 ELSE read_number END,
			unread = (SELECT COUNT(*) FROM mo_messages WHERE chat_id = $1 AND from_me = $3
				AND message_number > (CASE WHEN $2 > mo_chats.read_number THEN $2 ELSE mo_chats.read_number END)
				AND type NOT IN (`+unreadTypes+`))
			WHERE id = $1`, chatID, through, false)
		return err
	})
	if err != nil {
		return fmt.Errorf("marking chat %s read: %w", chatID, err)
	}
	return nil
}
