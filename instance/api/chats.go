package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// Paging of GET /dialogs.
const (
	DefaultDialogsLimit = 100
	MaxDialogsLimit     = 1000
	// readBatch is how many unread messages one read receipt round names.
	readBatch = 500
	// maxContactChats caps how many chats of the list GET /contacts adds to the contact store's.
	maxContactChats = 10000
)

// chatRoutes registers the chat endpoints: the chat list, read state, typing, number checks,
// contacts and the profile.
func (s *Server) chatRoutes(a *gin.RouterGroup) {
	a.GET("/dialogs", s.dialogs)
	a.GET("/dialog", s.dialog)
	a.POST("/readChat", s.limitBody(s.opts.MaxJSONBytes), s.readChat)
	a.POST("/typing", s.limitBody(s.opts.MaxJSONBytes), s.typing)
	a.GET("/checkPhone", s.checkPhone)
	a.POST("/checkPhone", s.limitBody(s.opts.MaxJSONBytes), s.checkPhone)
	a.GET("/contacts", s.contacts)
	a.POST("/me", s.limitBody(s.opts.MaxJSONBytes), s.setMe)
}

// chats returns the engine's chat actions, or answers 503 when the engine has none.
func (s *Server) chats(c *gin.Context) (account.Chats, bool) {
	ch, ok := s.opts.Engine.(account.Chats)
	if !ok {
		abort(c, http.StatusServiceUnavailable, "this server's WhatsApp engine cannot act on chats")
	}
	return ch, ok
}

// dialogMetadata is a group's metadata in /dialogs.
type dialogMetadata struct {
	IsGroup bool `json:"isGroup"`
	account.GroupMetadata
}

// dialog is one chat of GET /dialogs.
type dialogJSON struct {
	ID string `json:"id"`
	// Phone is the phone-number chat id of a <id>@lid chat once the mapping is known.
	Phone    string          `json:"phone,omitempty"`
	Name     string          `json:"name"`
	Image    string          `json:"image"`
	LastTime int64           `json:"last_time"`
	Unread   int             `json:"unread"`
	Metadata *dialogMetadata `json:"metadata,omitempty"`
}

func (s *Server) toDialog(c *gin.Context, ch store.Chat) dialogJSON {
	d := dialogJSON{ID: ch.ID, Name: ch.Name, Image: ch.Image, LastTime: ch.LastTime, Unread: ch.Unread}
	if d.Name == "" {
		d.Name, _, _ = strings.Cut(ch.ID, "@")
	}
	switch {
	case strings.HasSuffix(ch.ID, "@"+chat.ServerGroup):
		d.Metadata = &dialogMetadata{IsGroup: true, GroupMetadata: account.GroupMetadata{Participants: []string{}, Admins: []string{}}}
		if len(ch.Metadata) > 0 {
			if err := json.Unmarshal(ch.Metadata, &d.Metadata.GroupMetadata); err != nil {
				s.log.Warn("stored group metadata unreadable", "chat", ch.ID, "error", err)
			}
		}
	case strings.HasSuffix(ch.ID, "@"+chat.ServerLID):
		if eng, ok := s.opts.Engine.(account.Chats); ok {
			if pn := eng.PhoneOf(c.Request.Context(), ch.ID); pn != ch.ID {
				d.Phone = pn
			}
		}
	}
	return d
}

// dialogs lists the chats, most recent activity first: limit (default 100, at most 1000), and
// page (from 0) or offset.
func (s *Server) dialogs(c *gin.Context) {
	limit, ok := queryInt(c, "limit", DefaultDialogsLimit)
	if !ok {
		return
	}
	if limit <= 0 || limit > MaxDialogsLimit {
		abort(c, http.StatusUnprocessableEntity, "limit must be between 1 and %d", MaxDialogsLimit)
		return
	}
	page, ok := queryInt(c, "page", 0)
	if !ok {
		return
	}
	offset, ok := queryInt(c, "offset", page*limit)
	if !ok {
		return
	}
	if page < 0 || offset < 0 {
		abort(c, http.StatusUnprocessableEntity, "page and offset must not be negative")
		return
	}
	list, total, err := s.opts.Store.Chats(c.Request.Context(), store.ChatQuery{Limit: int(limit), Offset: int(offset)})
	if err != nil {
		s.log.Error("listing chats", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not read the chat list")
		return
	}
	out := make([]dialogJSON, 0, len(list))
	for _, ch := range list {
		out = append(out, s.toDialog(c, ch))
	}
	c.JSON(http.StatusOK, gin.H{"dialogs": out, "total": total})
}

// dialog answers one chat; a group's metadata is refreshed from WhatsApp when logged in.
func (s *Server) dialog(c *gin.Context) {
	raw := strings.TrimSpace(c.Query("chatId"))
	if raw == "" {
		abort(c, http.StatusBadRequest, "chatId is required")
		return
	}
	id, err := chat.ParseChatID(raw)
	if err != nil {
		abort(c, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	ctx := c.Request.Context()
	if id.Kind == chat.Group {
		s.refreshGroup(c, id.String())
	}
	ch, err := s.opts.Store.Chat(ctx, id.String())
	if errors.Is(err, store.ErrNotFound) {
		abort(c, http.StatusNotFound, "no chat %s", id)
		return
	}
	if err != nil {
		s.log.Error("reading a chat", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not read the chat")
		return
	}
	c.JSON(http.StatusOK, s.toDialog(c, ch))
}

// refreshGroup stores a group's current metadata when the engine can read it; failures keep the
// stored metadata.
func (s *Server) refreshGroup(c *gin.Context, groupID string) {
	eng, ok := s.opts.Engine.(account.Chats)
	if !ok {
		return
	}
	ctx, cancel := engineContext(c)
	defer cancel()
	md, err := eng.GroupMetadata(ctx, groupID)
	if err != nil {
		s.log.Debug("group metadata unavailable", "group", groupID, "error", err)
		return
	}
	raw, err := json.Marshal(md)
	if err != nil {
		return
	}
	if err := s.opts.Store.PutChats(ctx, []store.ChatUpdate{{ID: groupID, Name: md.Subject, Metadata: raw}}); err != nil {
		s.log.Error("storing group metadata", "group", groupID, "error", err)
	}
}

type chatRequest struct {
	ChatID flexString `json:"chatId"`
	Phone  flexString `json:"phone"`
	State  flexString `json:"state"`
}

// readChat sends read receipts for every unread incoming message of the chat and resets its
// unread count.
func (s *Server) readChat(c *gin.Context) {
	var req chatRequest
	if !bind(c, &req) {
		return
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok {
		return
	}
	eng, ok := s.chats(c)
	if !ok {
		return
	}
	ctx, cancel := engineContext(c)
	defer cancel()
	read := 0
	for {
		unread, err := s.opts.Store.UnreadMessages(ctx, to.String(), readBatch)
		if err != nil {
			s.log.Error("reading unread messages", "error", err)
			abort(c, http.StatusServiceUnavailable, "could not read the chat")
			return
		}
		if len(unread) == 0 {
			break
		}
		targets := make([]account.ReadTarget, len(unread))
		for i, m := range unread {
			targets[i] = account.ReadTarget{WAID: m.WAID, Sender: m.Author, Time: m.Time}
		}
		if err := eng.MarkRead(ctx, to.String(), targets); err != nil {
			s.chatError(c, "readChat", err)
			return
		}
		if err := s.opts.Store.MarkChatRead(ctx, to.String(), unread[len(unread)-1].Number); err != nil {
			s.log.Error("marking a chat read", "error", err)
			abort(c, http.StatusServiceUnavailable, "read receipts sent but the unread count could not be stored")
			return
		}
		read += len(unread)
	}
	c.JSON(http.StatusOK, gin.H{"read": true, "chatId": to.String(), "messages": read})
}

// typing shows composing, recording or paused in a chat at once (chat states are not queued:
// a late one means nothing).
func (s *Server) typing(c *gin.Context) {
	var req chatRequest
	if !bind(c, &req) {
		return
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok {
		return
	}
	state := strings.TrimSpace(string(req.State))
	switch state {
	case "":
		abort(c, http.StatusBadRequest, "state is required: composing, recording or paused")
		return
	case account.TypingComposing, account.TypingRecording, account.TypingPaused:
	default:
		abort(c, http.StatusUnprocessableEntity, "state must be composing, recording or paused, not %q", state)
		return
	}
	eng, ok := s.chats(c)
	if !ok {
		return
	}
	ctx, cancel := engineContext(c)
	defer cancel()
	if err := eng.Typing(ctx, to.String(), state); err != nil {
		s.chatError(c, "typing", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"sent": true, "chatId": to.String(), "state": state})
}

// checkPhone tells whether a number is on WhatsApp, with the chat id to use.
func (s *Server) checkPhone(c *gin.Context) {
	var req chatRequest
	if c.Request.Method == http.MethodPost {
		if !bind(c, &req) {
			return
		}
	} else {
		req.Phone = flexString(c.Query("phone"))
	}
	if strings.TrimSpace(string(req.Phone)) == "" {
		abort(c, http.StatusBadRequest, "phone is required: a phone number with country code")
		return
	}
	id, err := chat.ParsePhone(string(req.Phone))
	if err != nil {
		abort(c, http.StatusUnprocessableEntity, "%v", err)
		return
	}
	eng, ok := s.chats(c)
	if !ok {
		return
	}
	ctx, cancel := engineContext(c)
	defer cancel()
	check, err := eng.CheckPhone(ctx, id.User)
	if err != nil {
		s.chatError(c, "checkPhone", err)
		return
	}
	resp := gin.H{"result": "not exists", "chatId": check.ChatID}
	if check.Exists {
		resp["result"] = "exists"
	}
	if check.LID != "" {
		resp["lid"] = check.LID
	}
	c.JSON(http.StatusOK, resp)
}

// contacts lists the contacts whatsmeow knows (names from pushes and the address book) and the
// people of the chat list, by id. Without a logged-in account only the chat list answers.
func (s *Server) contacts(c *gin.Context) {
	eng, ok := s.chats(c)
	if !ok {
		return
	}
	ctx, cancel := engineContext(c)
	defer cancel()
	list, err := eng.Contacts(ctx)
	switch {
	case errors.Is(err, account.ErrNotAuthenticated), errors.Is(err, account.ErrUnavailable):
		list = nil
	case err != nil:
		s.chatError(c, "contacts", err)
		return
	}
	known := map[string]int{}
	for i, ct := range list {
		known[ct.ID] = i
	}
	chats, _, err := s.opts.Store.Chats(ctx, store.ChatQuery{Limit: maxContactChats})
	if err != nil {
		s.log.Error("listing chats", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not read the chat list")
		return
	}
	for _, ch := range chats {
		if strings.HasSuffix(ch.ID, "@"+chat.ServerGroup) {
			continue
		}
		if i, ok := known[ch.ID]; ok {
			if list[i].Name == "" {
				list[i].Name = ch.Name
			}
			continue
		}
		known[ch.ID] = len(list)
		list = append(list, account.Contact{ID: ch.ID, Name: ch.Name})
	}
	for i := range list {
		if list[i].Name == "" {
			list[i].Name, _, _ = strings.Cut(list[i].ID, "@")
		}
	}
	if list == nil {
		list = []account.Contact{}
	}
	c.JSON(http.StatusOK, gin.H{"contacts": list, "total": len(list)})
}

// chatError answers an engine error of a chat action: 422 for a value WhatsApp or the engine
// refused, else as engineError.
func (s *Server) chatError(c *gin.Context, what string, err error) {
	if errors.Is(err, account.ErrBadValue) {
		abort(c, http.StatusUnprocessableEntity, "%s: %v", what, err)
		return
	}
	s.engineError(c, what, err)
}
