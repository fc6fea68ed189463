package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// maxChatStates is how many typing notifications a phone remembers.
const maxChatStates = 1000

// ChatState is a typing notification a phone saw: who, in which chat, doing what.
type ChatState struct {
	Chat string `json:"chat"`
	From string `json:"from"`
	// State is composing (typing), recording (a voice note) or paused.
	State string    `json:"state"`
	Time  time.Time `json:"time"`
}

// ContactStatus is the presence of a contact the phone subscribed to.
type ContactStatus struct {
	JID    string `json:"jid"`
	Online bool   `json:"online"`
	// LastSeen is when the contact was last online, when it went offline and shares it.
	LastSeen *time.Time `json:"lastSeen,omitempty"`
	Time     time.Time  `json:"time"` // when the phone heard it
}

// PhonePresence is what a phone saw of others' typing and presence.
type PhonePresence struct {
	ChatStates []ChatState     `json:"chatStates"`
	Contacts   []ContactStatus `json:"contacts"`
}

func (p *Phone) recordChatState(e *events.ChatPresence) {
	state := string(e.State)
	if e.State == types.ChatPresenceComposing && e.Media == types.ChatPresenceMediaAudio {
		state = "recording"
	}
	cs := ChatState{Chat: p.pnString(e.Chat), From: p.pnString(e.Sender), State: state, Time: time.Now()}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chatStates = append(p.chatStates, cs)
	if over := len(p.chatStates) - maxChatStates; over > 0 {
		p.chatStates = slices.Clone(p.chatStates[over:])
	}
}

func (p *Phone) recordPresence(e *events.Presence) {
	st := &ContactStatus{JID: p.pnString(e.From), Online: !e.Unavailable, Time: time.Now()}
	if !e.LastSeen.IsZero() {
		seen := e.LastSeen
		st.LastSeen = &seen
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.presences == nil {
		p.presences = map[string]*ContactStatus{}
	}
	p.presences[st.JID] = st
}

// Presence returns the typing notifications the phone saw, oldest first, and the presence of the
// contacts it subscribed to, by JID.
func (p *Phone) Presence() PhonePresence {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := PhonePresence{ChatStates: slices.Clone(p.chatStates), Contacts: []ContactStatus{}}
	if out.ChatStates == nil {
		out.ChatStates = []ChatState{}
	}
	for _, st := range p.presences {
		out.Contacts = append(out.Contacts, *st)
	}
	slices.SortFunc(out.Contacts, func(a, b ContactStatus) int { return strings.Compare(a.JID, b.JID) })
	return out
}

// SendTyping tells the chat that the phone is composing, recording (a voice note) or paused.
func (p *Phone) SendTyping(ctx context.Context, to, state string) error {
	jid, err := ParseRecipient(to)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	presence, media := types.ChatPresenceComposing, types.ChatPresenceMediaText
	switch state {
	case "composing":
	case "recording":
		media = types.ChatPresenceMediaAudio
	case "paused":
		presence = types.ChatPresencePaused
	default:
		return fmt.Errorf("%w: state must be composing, recording or paused", ErrInvalid)
	}
	if err := p.cli.SendChatPresence(ctx, jid, presence, media); err != nil {
		return fmt.Errorf("sending chat state: %w", err)
	}
	return nil
}

// SetPresence marks the phone online or offline for the contacts subscribed to it.
func (p *Phone) SetPresence(ctx context.Context, online bool) error {
	state := types.PresenceUnavailable
	if online {
		state = types.PresenceAvailable
	}
	if err := p.cli.SendPresence(ctx, state); err != nil {
		return fmt.Errorf("sending presence: %w", err)
	}
	return nil
}

// Subscribe asks for a contact's presence; updates show in Presence.
func (p *Phone) Subscribe(ctx context.Context, contact string) error {
	jid, err := ParseRecipient(contact)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if jid.Server == types.GroupServer {
		return fmt.Errorf("%w: presence is subscribed per contact, not per group", ErrInvalid)
	}
	if err := p.cli.SubscribePresence(ctx, jid); err != nil {
		return fmt.Errorf("subscribing to %s: %w", jid, err)
	}
	return nil
}
