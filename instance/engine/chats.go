package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
)

var _ account.Chats = (*Engine)(nil)

// Bounds of the checkPhone cache: answers are kept for a while (a positive one longer: numbers
// rarely leave WhatsApp), and the cache never holds more than phoneCacheSize numbers.
const (
	phoneCacheSize  = 10000
	phoneCacheTTL   = time.Hour
	phoneMissingTTL = 10 * time.Minute
)

// phoneCache keeps recent IsOnWhatsApp answers by phone number.
type phoneCache struct {
	mu      sync.Mutex
	entries map[string]phoneEntry
}

type phoneEntry struct {
	check   account.PhoneCheck
	expires time.Time
}

func (c *phoneCache) get(phone string, now time.Time) (account.PhoneCheck, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[phone]
	if !ok || now.After(e.expires) {
		return account.PhoneCheck{}, false
	}
	return e.check, true
}

func (c *phoneCache) put(phone string, check account.PhoneCheck, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]phoneEntry{}
	}
	if len(c.entries) >= phoneCacheSize {
		c.evict(now)
	}
	ttl := phoneCacheTTL
	if !check.Exists {
		ttl = phoneMissingTTL
	}
	c.entries[phone] = phoneEntry{check: check, expires: now.Add(ttl)}
}

// evict drops expired answers, and when none had expired, the one expiring first.
func (c *phoneCache) evict(now time.Time) {
	oldest, first := "", time.Time{}
	for phone, e := range c.entries {
		if now.After(e.expires) {
			delete(c.entries, phone)
			continue
		}
		if first.IsZero() || e.expires.Before(first) {
			oldest, first = phone, e.expires
		}
	}
	if len(c.entries) >= phoneCacheSize {
		delete(c.entries, oldest)
	}
}

// parseJID turns a Chat API chat id into a whatsmeow JID.
func parseJID(chatID string) (types.JID, error) {
	id, err := chat.ParseChatID(chatID)
	if err != nil {
		return types.JID{}, fmt.Errorf("%w: %w", account.ErrBadValue, err)
	}
	jid, err := types.ParseJID(id.JID())
	if err != nil {
		return types.JID{}, fmt.Errorf("%w: %w", account.ErrBadValue, err)
	}
	return jid, nil
}

// MarkRead sends read receipts for msgs, one receipt per sender as WhatsApp wants them.
func (e *Engine) MarkRead(ctx context.Context, chatID string, msgs []account.ReadTarget) error {
	cli := e.loggedIn()
	if cli == nil {
		return account.ErrNotAuthenticated
	}
	to, err := parseJID(chatID)
	if err != nil {
		return err
	}
	bySender := map[string][]account.ReadTarget{}
	var order []string
	for _, m := range msgs {
		if _, seen := bySender[m.Sender]; !seen {
			order = append(order, m.Sender)
		}
		bySender[m.Sender] = append(bySender[m.Sender], m)
	}
	for _, sender := range order {
		if err := markReadFrom(ctx, cli, to, sender, bySender[sender]); err != nil {
			return err
		}
	}
	return nil
}

func markReadFrom(ctx context.Context, cli *whatsmeow.Client, to types.JID, sender string, msgs []account.ReadTarget) error {
	var from types.JID
	if to.Server == types.GroupServer && sender != "" {
		var err error
		if from, err = parseJID(sender); err != nil {
			return err
		}
	}
	ids := make([]types.MessageID, len(msgs))
	last := int64(0)
	for i, m := range msgs {
		ids[i] = m.WAID
		last = max(last, m.Time)
	}
	if err := cli.MarkRead(ctx, ids, time.Unix(last, 0), to, from); err != nil {
		return fmt.Errorf("sending read receipts: %w", err)
	}
	return nil
}

// Typing sends composing, recording (composing with audio) or paused to a chat, announcing the
// account as available first: WhatsApp shows chat states of online accounts only.
func (e *Engine) Typing(ctx context.Context, chatID, state string) error {
	cli := e.loggedIn()
	if cli == nil {
		return account.ErrNotAuthenticated
	}
	to, err := parseJID(chatID)
	if err != nil {
		return err
	}
	cs, media := types.ChatPresenceComposing, types.ChatPresenceMediaText
	switch state {
	case account.TypingComposing:
	case account.TypingRecording:
		media = types.ChatPresenceMediaAudio
	case account.TypingPaused:
		cs = types.ChatPresencePaused
	default:
		return fmt.Errorf("%w: typing state %q", account.ErrBadValue, state)
	}
	if cs == types.ChatPresenceComposing {
		if err := cli.SendPresence(ctx, types.PresenceAvailable); err != nil {
			e.log.Debug("announcing presence before typing failed", "err", err)
		}
	}
	if err := cli.SendChatPresence(ctx, to, cs, media); err != nil {
		return fmt.Errorf("sending chat state: %w", err)
	}
	return nil
}

// CheckPhone asks WhatsApp whether phone (digits) has an account, through the cache. The LID
// mapping WhatsApp returns is kept by whatsmeow (Store.LIDs).
func (e *Engine) CheckPhone(ctx context.Context, phone string) (account.PhoneCheck, error) {
	cli := e.loggedIn()
	if cli == nil {
		return account.PhoneCheck{}, account.ErrNotAuthenticated
	}
	cache := &e.phones
	if c, ok := cache.get(phone, time.Now()); ok {
		return c, nil
	}
	resp, err := cli.IsOnWhatsApp(ctx, []string{"+" + phone})
	if err != nil {
		return account.PhoneCheck{}, fmt.Errorf("asking WhatsApp about a number: %w", err)
	}
	check := account.PhoneCheck{ChatID: phone + "@" + chat.ServerChatAPI}
	for _, r := range resp {
		if !r.IsIn {
			continue
		}
		check.Exists = true
		switch {
		case r.JID.Server == types.DefaultUserServer:
			check.ChatID = r.JID.User + "@" + chat.ServerChatAPI
		case r.PhoneNumber.Server == types.DefaultUserServer:
			check.ChatID = r.PhoneNumber.User + "@" + chat.ServerChatAPI
		case r.JID.Server == types.HiddenUserServer:
			check.ChatID = r.JID.User + "@" + chat.ServerLID
		}
		if r.JID.Server == types.HiddenUserServer {
			check.LID = r.JID.User + "@" + chat.ServerLID
		}
	}
	if check.Exists && check.LID == "" {
		pn := types.NewJID(phone, types.DefaultUserServer)
		if lid, err := cli.Store.LIDs.GetLIDForPN(ctx, pn); err == nil && !lid.IsEmpty() {
			check.LID = lid.User + "@" + chat.ServerLID
		}
	}
	cache.put(phone, check, time.Now())
	return check, nil
}

// PhoneOf maps a <id>@lid chat to its phone-number chat when whatsmeow knows the mapping.
func (e *Engine) PhoneOf(ctx context.Context, chatID string) string {
	cli := e.loggedIn()
	id, err := chat.ParseChatID(chatID)
	if cli == nil || err != nil || id.Kind != chat.LID {
		return chatID
	}
	pn, err := cli.Store.LIDs.GetPNForLID(ctx, types.NewJID(id.User, types.HiddenUserServer))
	if err != nil || pn.IsEmpty() {
		return chatID
	}
	return pn.User + "@" + chat.ServerChatAPI
}

// Contacts lists whatsmeow's contact store, LID entries folded into their phone numbers when the
// mapping is known, sorted by id.
func (e *Engine) Contacts(ctx context.Context) ([]account.Contact, error) {
	cli := e.loggedIn()
	if cli == nil {
		return nil, account.ErrNotAuthenticated
	}
	all, err := cli.Store.Contacts.GetAllContacts(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading contacts: %w", err)
	}
	byID := map[string]account.Contact{}
	for jid, info := range all {
		id := e.chatIDOf(cli, jid, types.JID{})
		c := account.Contact{ID: id.String(), PushName: info.PushName, ShortName: info.FirstName,
			Name: firstNonEmpty(info.FullName, info.FirstName, info.BusinessName, info.PushName)}
		if old, ok := byID[c.ID]; ok && old.Name != "" {
			continue
		}
		byID[c.ID] = c
	}
	out := make([]account.Contact, 0, len(byID))
	for _, c := range byID {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// GroupMetadata asks WhatsApp for a group's members, admins, subject and description; members are
// named by phone number when known.
func (e *Engine) GroupMetadata(ctx context.Context, groupID string) (account.GroupMetadata, error) {
	cli := e.loggedIn()
	if cli == nil {
		return account.GroupMetadata{}, account.ErrNotAuthenticated
	}
	jid, err := parseJID(groupID)
	if err != nil {
		return account.GroupMetadata{}, err
	}
	info, err := cli.GetGroupInfo(ctx, jid)
	if err != nil {
		return account.GroupMetadata{}, fmt.Errorf("reading group %s: %w", groupID, err)
	}
	md := account.GroupMetadata{Participants: []string{}, Admins: []string{}, Subject: info.Name, Description: info.Topic}
	for _, p := range info.Participants {
		id := e.chatIDOf(cli, p.JID, p.PhoneNumber).String()
		md.Participants = append(md.Participants, id)
		if p.IsAdmin || p.IsSuperAdmin {
			md.Admins = append(md.Admins, id)
		}
	}
	if info.Name != "" {
		e.names.set(jid.User, info.Name)
	}
	return md, nil
}
