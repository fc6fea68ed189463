package api

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// Limits of polls, as WhatsApp's apps enforce them.
const (
	MinPollOptions      = 2
	MaxPollOptions      = 12
	MaxPollNameLength   = 255
	MaxPollOptionLength = 100
)

// refRoutes registers the sends that make polls or act on earlier messages.
func (s *Server) refRoutes(a *gin.RouterGroup) {
	limit := s.limitBody(s.opts.MaxJSONBytes)
	a.POST("/sendPoll", limit, s.sendPoll)
	a.POST("/sendReaction", limit, s.sendReaction)
	a.POST("/forwardMessage", limit, s.forwardMessage)
	a.POST("/editMessage", limit, s.editMessage)
	a.POST("/deleteMessage", limit, s.deleteMessage)
}

type sendPollRequest struct {
	ChatID      flexString    `json:"chatId"`
	Phone       flexString    `json:"phone"`
	Name        *flexString   `json:"name"`
	Options     *[]flexString `json:"options"`
	Multiple    flexBool      `json:"multiple"`
	QuotedMsgID string        `json:"quotedMsgId"`
}

func (s *Server) sendPoll(c *gin.Context) {
	var req sendPollRequest
	if !bind(c, &req) {
		return
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok {
		return
	}
	if req.Name == nil || req.Options == nil {
		abort(c, http.StatusBadRequest, "name and options are required: the question and %d to %d answers",
			MinPollOptions, MaxPollOptions)
		return
	}
	poll, err := pollOf(string(*req.Name), *req.Options, req.Multiple.Value)
	if err != nil {
		abort(c, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	if !validQuote(c, req.QuotedMsgID) {
		return
	}
	poll.QuotedMsgID = req.QuotedMsgID
	s.enqueue(c, store.NewItem{Chat: to, Body: poll.Name, Payload: poll}, nil)
}

// pollOf checks a poll's question and options.
func pollOf(name string, options []flexString, multiple bool) (queue.Poll, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return queue.Poll{}, errors.New("name must not be empty")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxPollNameLength:
		return queue.Poll{}, fmt.Errorf("name must be valid UTF-8 of at most %d characters", MaxPollNameLength)
	case len(options) < MinPollOptions || len(options) > MaxPollOptions:
		return queue.Poll{}, fmt.Errorf("a poll has %d to %d options, not %d", MinPollOptions, MaxPollOptions, len(options))
	}
	p := queue.Poll{Name: name, Multiple: multiple}
	seen := map[string]bool{}
	for i, raw := range options {
		o := strings.TrimSpace(string(raw))
		switch {
		case o == "":
			return queue.Poll{}, fmt.Errorf("options[%d] is empty", i)
		case !utf8.ValidString(o) || utf8.RuneCountInString(o) > MaxPollOptionLength:
			return queue.Poll{}, fmt.Errorf("options[%d] must be valid UTF-8 of at most %d characters", i, MaxPollOptionLength)
		case seen[o]:
			return queue.Poll{}, fmt.Errorf("options[%d] %q is given twice", i, o)
		}
		seen[o] = true
		p.Options = append(p.Options, o)
	}
	return p, nil
}

// validQuote answers 422 for a quotedMsgId that is not a message id.
func validQuote(c *gin.Context, id string) bool {
	if id == "" {
		return true
	}
	if _, err := chat.ParseMessageID(id); err != nil {
		abort(c, http.StatusUnprocessableEntity, "quotedMsgId: %v", err)
		return false
	}
	return true
}

// target looks up the journal entry a send acts on: 400 without an id, 422 for a malformed or
// unknown one, 503 when the journal cannot be read. The id is returned in its journal form (a
// group message's participant suffix dropped).
func (s *Server) target(c *gin.Context, raw string) (chat.Message, chat.MessageID, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		abort(c, http.StatusBadRequest, "messageId is required: the id of a message in GET /messages")
		return chat.Message{}, chat.MessageID{}, false
	}
	mid, err := chat.ParseMessageID(raw)
	if err != nil {
		abort(c, http.StatusUnprocessableEntity, "messageId: %v", err)
		return chat.Message{}, chat.MessageID{}, false
	}
	m, err := s.opts.Store.Message(c.Request.Context(), mid.String())
	if errors.Is(err, store.ErrNotFound) {
		m, err = s.pendingTarget(c, mid.String())
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		abort(c, http.StatusUnprocessableEntity, "unknown messageId %q: no such message in the journal (GET /messages)", raw)
		return chat.Message{}, chat.MessageID{}, false
	case err != nil:
		s.log.Error("looking up a message", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not read the journal")
		return chat.Message{}, chat.MessageID{}, false
	}
	return m, mid, true
}

// pendingTarget describes a send of the account's still in the queue as the message it will be.
// Its MessageNumber is 0: it is not in the journal yet. A send for the same chat queued after it
// is delivered after it, by when it is journaled.
func (s *Server) pendingTarget(c *gin.Context, id string) (chat.Message, error) {
	it, err := s.opts.Store.PendingItem(c.Request.Context(), id)
	if err != nil {
		return chat.Message{}, err
	}
	m := chat.Message{ID: it.MessageID, FromMe: true, ChatID: it.ChatID, Time: it.CreatedAt.Unix(), Body: it.Body}
	p, err := it.Payload()
	if err != nil {
		return chat.Message{}, fmt.Errorf("queued item %d: %w", it.QueueNumber, err)
	}
	switch p := p.(type) {
	case queue.Text, queue.Link:
		m.Type = chat.TypeChat
	case queue.File:
		m.Type = p.MediaType
	case queue.Poll:
		m.Type = chat.TypePoll
	case queue.Location:
		m.Type = chat.TypeLocation
	case queue.VCard:
		m.Type = chat.TypeVCard
	case queue.Reaction:
		m.Type = chat.TypeReaction
	case queue.Edit:
		m.Type = chat.TypeEdited
	case queue.Delete:
		m.Type = chat.TypeRevoked
	default:
		m.Type = it.Kind // e.g. a forward: its kind is known once sent
	}
	return m, nil
}

type sendReactionRequest struct {
	MessageID string  `json:"messageId"`
	Reaction  *string `json:"reaction"`
}

func (s *Server) sendReaction(c *gin.Context) {
	var req sendReactionRequest
	if !bind(c, &req) {
		return
	}
	if req.Reaction == nil {
		abort(c, http.StatusBadRequest, `reaction is required: one emoji, or "" to remove the account's reaction`)
		return
	}
	emoji := strings.TrimSpace(*req.Reaction)
	if emoji != "" && !isOneEmoji(emoji) {
		abort(c, http.StatusUnprocessableEntity, `reaction must be one emoji, or "" to remove the account's reaction`)
		return
	}
	m, mid, ok := s.target(c, req.MessageID)
	if !ok {
		return
	}
	if !actsOn(m) {
		abort(c, http.StatusUnprocessableEntity, "a message of type %s cannot be reacted to", m.Type)
		return
	}
	s.enqueue(c, store.NewItem{Chat: mid.Chat, Body: emoji, Payload: queue.Reaction{MessageID: m.ID, Reaction: emoji}}, nil)
}

// actsOn reports whether reactions and revokes can refer to m: a message that shows something,
// not one that acts on another.
func actsOn(m chat.Message) bool {
	switch m.Type {
	case chat.TypeRevoked, chat.TypeReaction, chat.TypePollVote, chat.TypeEdited, chat.TypeSystem, chat.TypeCallLog:
		return false
	}
	return !m.Revoked
}

type forwardRequest struct {
	MessageID string     `json:"messageId"`
	ChatID    flexString `json:"chatId"`
	Phone     flexString `json:"phone"`
}

func (s *Server) forwardMessage(c *gin.Context) {
	var req forwardRequest
	if !bind(c, &req) {
		return
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok {
		return
	}
	m, _, ok := s.target(c, req.MessageID)
	if !ok {
		return
	}
	if m.MessageNumber == 0 {
		abort(c, http.StatusUnprocessableEntity, "message %s is still in the queue: forward it once it is sent", m.ID)
		return
	}
	if !forwardable(m) {
		abort(c, http.StatusUnprocessableEntity, "a message of type %s%s cannot be forwarded", m.Type, revokedNote(m))
		return
	}
	if chat.IsMedia(m.Type) && !s.mediaKept(m.Body) {
		abort(c, http.StatusUnprocessableEntity, "the file of message %s is no longer stored: it cannot be forwarded", m.ID)
		return
	}
	s.enqueue(c, store.NewItem{Chat: to, Body: forwardBody(m), Payload: queue.Forward{MessageID: m.ID}}, nil)
}

// forwardable reports whether m can be sent again: texts, links, locations, contact cards and media.
func forwardable(m chat.Message) bool {
	switch m.Type {
	case chat.TypeChat, chat.TypeLocation, chat.TypeVCard:
		return !m.Revoked
	}
	return chat.IsMedia(m.Type) && !m.Revoked
}

func revokedNote(m chat.Message) string {
	if m.Revoked {
		return " that was deleted"
	}
	return ""
}

// forwardBody is what the queue shows of a forward.
func forwardBody(m chat.Message) string {
	if chat.IsMedia(m.Type) {
		if m.FileName != "" {
			return m.FileName
		}
		return m.Type
	}
	return m.Body
}

// mediaKept reports whether the media link of a journal entry names a file still stored.
func (s *Server) mediaKept(link string) bool {
	rel, err := s.opts.Media.FromLink(link)
	if err != nil {
		return false
	}
	path, err := s.opts.Media.Path(rel)
	if err != nil {
		return false
	}
	_, err = os.Stat(path)
	return err == nil
}

type editRequest struct {
	MessageID string      `json:"messageId"`
	Body      *flexString `json:"body"`
}

func (s *Server) editMessage(c *gin.Context) {
	var req editRequest
	if !bind(c, &req) {
		return
	}
	if req.Body == nil || strings.TrimSpace(string(*req.Body)) == "" {
		abort(c, http.StatusBadRequest, "body is required: the new text")
		return
	}
	body := string(*req.Body)
	if !utf8.ValidString(body) || utf8.RuneCountInString(body) > MaxTextLength {
		abort(c, http.StatusUnprocessableEntity, "body must be valid UTF-8 of at most %d characters", MaxTextLength)
		return
	}
	m, mid, ok := s.target(c, req.MessageID)
	if !ok {
		return
	}
	if reason := editRefusal(m, time.Now()); reason != "" {
		abort(c, http.StatusUnprocessableEntity, "message %s cannot be edited: %s", m.ID, reason)
		return
	}
	s.enqueue(c, store.NewItem{Chat: mid.Chat, Body: body, Payload: queue.Edit{MessageID: m.ID}}, nil)
}

// editRefusal says why m cannot be edited at now ("" when it can): only the account's own texts,
// not deleted, within WhatsApp's edit window.
func editRefusal(m chat.Message, now time.Time) string {
	switch {
	case !m.FromMe:
		return "only the account's own messages can be edited"
	case m.Type != chat.TypeChat:
		return "only text messages can be edited, not " + m.Type
	case m.Revoked:
		return "it was deleted"
	case queue.EditExpired(time.Unix(m.Time, 0), now):
		return "it is older than the " + queue.EditWindow.String() + " WhatsApp allows for edits"
	}
	return ""
}

type deleteRequest struct {
	MessageID string `json:"messageId"`
}

func (s *Server) deleteMessage(c *gin.Context) {
	var req deleteRequest
	if !bind(c, &req) {
		return
	}
	m, mid, ok := s.target(c, req.MessageID)
	if !ok {
		return
	}
	switch {
	case !actsOn(m):
		abort(c, http.StatusUnprocessableEntity, "a message of type %s%s cannot be deleted", m.Type, revokedNote(m))
		return
	case !m.FromMe && mid.Chat.Kind != chat.Group:
		abort(c, http.StatusUnprocessableEntity, "only the account's own messages can be deleted for everyone in a 1:1 chat")
		return
	}
	s.enqueue(c, store.NewItem{Chat: mid.Chat, Payload: queue.Delete{MessageID: m.ID}}, nil)
}

// isOneEmoji reports whether s is a single emoji: one base symbol with its modifiers, variation
// selectors, keycap or tag characters, several joined by zero-width joiners, or a flag (a pair of
// regional indicators). Letters, digits outside keycaps, spaces and control characters are refused.
func isOneEmoji(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 32 {
		return false
	}
	runes := []rune(s)
	bases, regional := 0, 0
	for i, r := range runes {
		joined := i > 0 && runes[i-1] == zwj
		switch {
		case r == zwj || r == 0xFE0E || r == 0xFE0F || r == 0x20E3 || (r >= 0x1F3FB && r <= 0x1F3FF) ||
			(r >= 0xE0020 && r <= 0xE007F):
			if i == 0 {
				return false
			}
		case r >= 0x1F1E6 && r <= 0x1F1FF:
			if regional++; regional%2 == 1 && !joined {
				bases++
			}
		case r == '#' || r == '*' || (r >= '0' && r <= '9'):
			if !strings.ContainsRune(s, 0x20E3) {
				return false
			}
			bases++
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsSpace(r) || unicode.IsControl(r) ||
			unicode.IsPunct(r) || r < 0x80:
			return false
		default:
			if !joined {
				bases++
			}
		}
	}
	return bases == 1
}

// zwj is the zero-width joiner of emoji sequences.
const zwj = 0x200D
