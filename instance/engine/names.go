package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

const (
	// groupInfoTimeout bounds one group metadata query made to name a chat.
	groupInfoTimeout = 10 * time.Second
	// groupRetryAfter is how long a group whose metadata could not be read keeps its id as name
	// before it is asked again.
	groupRetryAfter = 5 * time.Minute
)

// groupNames caches group subjects (whatsmeow keeps none): learnt from group events, from the
// subject a group is created with and, on a miss, from GetGroupInfo.
type groupNames struct {
	mu       sync.Mutex
	subjects map[string]string    // group user → subject
	failed   map[string]time.Time // group user → when GetGroupInfo last failed
}

func (g *groupNames) get(user string) (subject string, known, retry bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s, ok := g.subjects[user]; ok {
		return s, true, false
	}
	at, failed := g.failed[user]
	return "", false, !failed || time.Since(at) > groupRetryAfter
}

func (g *groupNames) set(user, subject string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.subjects == nil {
		g.subjects = map[string]string{}
	}
	g.subjects[user] = subject
	delete(g.failed, user)
}

func (g *groupNames) fail(user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failed == nil {
		g.failed = map[string]time.Time{}
	}
	g.failed[user] = time.Now()
}

// learnNames records the group subjects that events carry; handleEvent calls it for every event
// before handling it, so a subject change names the notification that announces it.
func (e *Engine) learnNames(evt any) {
	switch ev := evt.(type) {
	case *events.JoinedGroup:
		if ev.Name != "" {
			e.names.set(ev.JID.User, ev.Name)
		}
	case *events.GroupInfo:
		if ev.Name != nil && ev.Name.Name != "" {
			e.names.set(ev.JID.User, ev.Name.Name)
		}
	}
}

// fillChatName names a journal entry's chat when nothing named it yet (calls, system messages).
func (e *Engine) fillChatName(m *chat.Message) {
	if m.ChatName == "" {
		m.ChatName = e.chatName(e.loggedIn(), m.ChatID, "")
	}
}

// entryChatName names the chat of a sent queue item: the subject for a group being created
// (its id is not known yet), else as chatName does. The drain's journal entries use it.
func (e *Engine) entryChatName(it store.Item) string {
	if p, err := it.Payload(); err == nil {
		if g, ok := p.(queue.Group); ok && g.GroupName != "" {
			return g.GroupName
		}
	}
	return e.chatName(e.loggedIn(), it.ChatID, "")
}

// chatName is the chatName of a Chat API chat id: the group subject for groups, the contact's
// name for people (address book name, else push name, else hint, e.g. the push name an incoming
// message carries, else business name), else the number or id. cli may be nil (not logged in):
// then only cached subjects and the hint are used.
func (e *Engine) chatName(cli *whatsmeow.Client, chatID, hint string) string {
	fallback, _, _ := strings.Cut(chatID, "@")
	id, err := chat.ParseChatID(chatID)
	if err != nil {
		return fallback
	}
	if id.Kind == chat.Group {
		return e.groupSubject(cli, id.User)
	}
	var contact types.ContactInfo
	if cli != nil && cli.Store.Contacts != nil {
		contact = e.contact(cli, id)
	}
	return firstNonEmpty(contact.FullName, contact.FirstName, contact.PushName, hint, contact.BusinessName, fallback)
}

// groupSubject returns the cached subject of a group, asking WhatsApp on a miss.
func (e *Engine) groupSubject(cli *whatsmeow.Client, user string) string {
	subject, known, retry := e.names.get(user)
	if known {
		return subject
	}
	if cli == nil || !retry {
		return user
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupInfoTimeout)
	defer cancel()
	info, err := cli.GetGroupInfo(ctx, types.NewJID(user, types.GroupServer))
	if err != nil || info.Name == "" {
		e.log.Debug("group subject unavailable", "group", user, "err", err)
		e.names.fail(user)
		return user
	}
	e.names.set(user, info.Name)
	return info.Name
}

// contact reads what whatsmeow's contact store knows of a person, by phone number and by LID.
func (e *Engine) contact(cli *whatsmeow.Client, id chat.ID) types.ContactInfo {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	jid, err := types.ParseJID(id.JID())
	if err != nil {
		return types.ContactInfo{}
	}
	info, err := e.storedContact(ctx, cli, jid)
	if err == nil && info.Found && (info.FullName != "" || info.FirstName != "" || info.PushName != "") {
		return info
	}
	var alt types.JID
	switch id.Kind {
	case chat.Person:
		alt, err = cli.Store.LIDs.GetLIDForPN(ctx, jid)
	case chat.LID:
		alt, err = cli.Store.LIDs.GetPNForLID(ctx, jid)
	}
	if err != nil || alt.IsEmpty() {
		return info
	}
	if other, err := e.storedContact(ctx, cli, alt); err == nil && other.Found {
		return other
	}
	return info
}

// storedContact reads a person's names from whatsmeow's contact table. whatsmeow's own
// GetContact (pinned version) copies its cached entry after releasing the cache's lock, racing
// with the push-name update whatsmeow runs beside the handler of every incoming message; the
// table holds the same names without that shared entry.
func (e *Engine) storedContact(ctx context.Context, cli *whatsmeow.Client, jid types.JID) (types.ContactInfo, error) {
	if cli.Store.ID == nil {
		return types.ContactInfo{}, nil
	}
	var first, full, push, business sql.NullString
	err := e.waDB.QueryRowContext(ctx, `SELECT first_name, full_name, push_name, business_name
		FROM whatsmeow_contacts WHERE our_jid = $1 AND their_jid = $2`, cli.Store.ID.String(), jid.String()).
		Scan(&first, &full, &push, &business)
	if errors.Is(err, sql.ErrNoRows) {
		return types.ContactInfo{}, nil
	}
	if err != nil {
		return types.ContactInfo{}, fmt.Errorf("reading contact %s: %w", jid, err)
	}
	return types.ContactInfo{Found: true, FirstName: first.String, FullName: full.String, PushName: push.String,
		BusinessName: business.String}, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
