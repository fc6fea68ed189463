package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// MaxGroupDescriptionLength caps a group description (WhatsApp's limit).
const MaxGroupDescriptionLength = 2048

// inviteLinkPrefix is how WhatsApp's invite links start.
const inviteLinkPrefix = "https://chat.whatsapp.com/"

var inviteCode = regexp.MustCompile(`^[A-Za-z0-9_-]{6,64}$`)

// groupRoutes mounts the group operations: queued actions, synchronous reads, the actions queue.
func (s *Server) groupRoutes(a *gin.RouterGroup) {
	body := s.limitBody(s.opts.MaxJSONBytes)
	for path, action := range map[string]string{
		"/addGroupParticipant": queue.ParticipantAdd, "/removeGroupParticipant": queue.ParticipantRemove,
		"/promoteGroupParticipant": queue.ParticipantPromote, "/demoteGroupParticipant": queue.ParticipantDemote,
	} {
		a.POST(path, body, s.participantAction(action))
	}
	a.POST("/joinGroup", body, s.joinGroup)
	a.POST("/leaveGroup", body, s.leaveGroup)
	a.POST("/setGroupSubject", body, s.setGroupSubject)
	a.POST("/setGroupDescription", body, s.setGroupDescription)
	a.GET("/groupInfo", s.groupInfo)
	a.POST("/groupInviteLink", body, s.groupInviteLink)
	a.GET("/showActionsQueue", s.showActionsQueue)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		a.Handle(method, "/clearActionsQueue", s.clearActionsQueue)
	}
}

type groupActionRequest struct {
	GroupID flexString `json:"groupId"`
	// ParticipantPhone and ParticipantChatID name the members; each is one value, an array or a
	// comma separated string.
	ParticipantPhone  flexStrings `json:"participantPhone"`
	ParticipantChatID flexStrings `json:"participantChatId"`
	Code              flexString  `json:"code"`
	Subject           *flexString `json:"subject"`
	Description       *flexString `json:"description"`
}

// actionResponse answers every accepted action: queued, and its outcome when it came in time.
type actionResponse struct {
	Queued      bool   `json:"queued"`
	Message     string `json:"message"`
	ActionID    int64  `json:"actionId"`
	QueueNumber int64  `json:"queueNumber"`
	ID          string `json:"id"`
	// Status is queued (not done yet), sent (done) or failed.
	Status string `json:"status"`
	// ChatID is the group acted on (for a join: once joined).
	ChatID string `json:"chatId,omitempty"`
	// Participants is, for participant changes, each participant's outcome.
	Participants json.RawMessage `json:"participants,omitempty"`
	Error        string          `json:"error,omitempty"`
}

// bindGroupAction decodes an action request and resolves its groupId (when needGroup).
func bindGroupAction(c *gin.Context, needGroup bool) (groupActionRequest, chat.ID, bool) {
	var req groupActionRequest
	if !bind(c, &req) {
		return req, chat.ID{}, false
	}
	if !needGroup {
		return req, chat.ID{}, true
	}
	id, ok := parseGroupID(c, string(req.GroupID))
	return req, id, ok
}

// parseGroupID reads a request's groupId (a group chat id, <id>@g.us), or answers 400/422.
func parseGroupID(c *gin.Context, raw string) (chat.ID, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		abort(c, http.StatusBadRequest, "groupId is required: the group's chat id, <id>@g.us")
		return chat.ID{}, false
	}
	id, err := chat.ParseChatID(raw)
	if err != nil || id.Kind != chat.Group {
		abort(c, http.StatusUnprocessableEntity, "groupId %q is not a group chat id (<id>@g.us)", raw)
		return chat.ID{}, false
	}
	return id, true
}

func (s *Server) participantAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		req, group, ok := bindGroupAction(c, true)
		if !ok {
			return
		}
		if len(req.ParticipantPhone)+len(req.ParticipantChatID) == 0 {
			abort(c, http.StatusBadRequest, "participantPhone or participantChatId is required")
			return
		}
		members, ok := groupMembers(c, groupRequest{Phones: req.ParticipantPhone, ChatIDs: req.ParticipantChatID})
		if !ok {
			return
		}
		s.queueAction(c, group, action+" "+strings.Join(members, ", "),
			queue.GroupParticipants{Action: action, Participants: members})
	}
}

func (s *Server) joinGroup(c *gin.Context) {
	req, _, ok := bindGroupAction(c, false)
	if !ok {
		return
	}
	raw := strings.TrimSpace(string(req.Code))
	if raw == "" {
		abort(c, http.StatusBadRequest, "code is required: the invite code or link (%s<code>)", inviteLinkPrefix)
		return
	}
	code, ok := parseInviteCode(raw)
	if !ok {
		abort(c, http.StatusUnprocessableEntity, "code %q is not an invite code or %s<code> link", raw, inviteLinkPrefix)
		return
	}
	s.queueAction(c, chat.ID{}, "join "+code, queue.GroupJoin{Code: code})
}

// parseInviteCode accepts a bare code or an invite link (with or without scheme).
func parseInviteCode(raw string) (string, bool) {
	code := raw
	for _, prefix := range []string{inviteLinkPrefix, "http://chat.whatsapp.com/", "chat.whatsapp.com/"} {
		if len(code) >= len(prefix) && strings.EqualFold(code[:len(prefix)], prefix) {
			code = code[len(prefix):]
			break
		}
	}
	code, _, _ = strings.Cut(code, "?")
	code = strings.TrimSuffix(code, "/")
	return code, inviteCode.MatchString(code)
}

func (s *Server) leaveGroup(c *gin.Context) {
	if _, group, ok := bindGroupAction(c, true); ok {
		s.queueAction(c, group, "leave", queue.GroupLeave{})
	}
}

func (s *Server) setGroupSubject(c *gin.Context) {
	req, group, ok := bindGroupAction(c, true)
	if !ok {
		return
	}
	if req.Subject == nil || strings.TrimSpace(string(*req.Subject)) == "" {
		abort(c, http.StatusBadRequest, "subject is required: the group's new name")
		return
	}
	subject := strings.TrimSpace(string(*req.Subject))
	if utf8.RuneCountInString(subject) > MaxGroupNameLength {
		abort(c, http.StatusUnprocessableEntity, "subject is longer than %d characters", MaxGroupNameLength)
		return
	}
	s.queueAction(c, group, "subject: "+subject, queue.GroupSubject{Subject: subject})
}

func (s *Server) setGroupDescription(c *gin.Context) {
	req, group, ok := bindGroupAction(c, true)
	if !ok {
		return
	}
	if req.Description == nil {
		abort(c, http.StatusBadRequest, "description is required (empty deletes it)")
		return
	}
	desc := string(*req.Description)
	if utf8.RuneCountInString(desc) > MaxGroupDescriptionLength {
		abort(c, http.StatusUnprocessableEntity, "description is longer than %d characters", MaxGroupDescriptionLength)
		return
	}
	s.queueAction(c, group, "description: "+desc, queue.GroupDescription{Description: desc})
}

// queueAction queues an action durably and, while the account is connected, waits up to GroupWait
// for its outcome.
func (s *Server) queueAction(c *gin.Context, group chat.ID, body string, p queue.Payload) {
	it, err := s.opts.Store.Enqueue(c.Request.Context(), store.NewItem{Chat: group, Body: body, Payload: p})
	if err != nil {
		s.enqueueFailed(c, err, "action")
		return
	}
	s.metrics.Enqueued(p.Kind())
	s.opts.Engine.WakeQueue()
	resp := actionResponse{Queued: true, ActionID: it.QueueNumber, QueueNumber: it.QueueNumber, ID: it.MessageID,
		Status: store.StateQueued, ChatID: it.ChatID, Message: "Action queued: it runs when the account is connected"}
	if s.opts.Engine.Status().Substatus != account.SubstatusConnected {
		c.JSON(http.StatusOK, resp)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.opts.GroupWait)
	defer cancel()
	done, err := s.opts.Store.WaitFinished(ctx, it.QueueNumber)
	switch {
	case err == nil && done.State == store.StateSent:
		resp.Status, resp.Message = store.StateSent, "Action done"
		if _, ok := p.(queue.GroupJoin); ok {
			resp.ChatID = done.Result
		} else if json.Valid([]byte(done.Result)) && done.Result != "" {
			resp.Participants = json.RawMessage(done.Result)
		}
		c.JSON(http.StatusOK, resp)
	case err == nil && done.State == store.StateFailed:
		resp.Status, resp.Message, resp.Error = store.StateFailed, "Action failed", done.Reason
		c.JSON(http.StatusUnprocessableEntity, resp)
	default:
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			s.log.Error("waiting for an action", "error", err)
		}
		c.JSON(http.StatusOK, resp)
	}
}

// groups returns the engine's synchronous group reads, or answers 503.
func (s *Server) groups(c *gin.Context) (account.Groups, bool) {
	g, ok := s.opts.Engine.(account.Groups)
	if !ok {
		abort(c, http.StatusServiceUnavailable, "this server has no WhatsApp engine to read groups with")
	}
	return g, ok
}

func (s *Server) groupInfo(c *gin.Context) {
	id, ok := parseGroupID(c, c.Query("groupId"))
	if !ok {
		return
	}
	g, ok := s.groups(c)
	if !ok {
		return
	}
	info, err := g.GroupInfo(c.Request.Context(), id.String())
	if err != nil {
		s.groupError(c, "reading the group", err)
		return
	}
	c.JSON(http.StatusOK, info)
}

func (s *Server) groupInviteLink(c *gin.Context) {
	var req struct {
		GroupID flexString `json:"groupId"`
		Reset   flexBool   `json:"reset"`
	}
	if !bind(c, &req) {
		return
	}
	id, ok := parseGroupID(c, string(req.GroupID))
	if !ok {
		return
	}
	g, ok := s.groups(c)
	if !ok {
		return
	}
	link, err := g.GroupInviteLink(c.Request.Context(), id.String(), req.Reset.Value)
	if err != nil {
		s.groupError(c, "getting the invite link", err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"link": link, "code": strings.TrimPrefix(link, inviteLinkPrefix)})
}

// groupError answers a failed group read: 404 no such group, 403 not a member or not an admin,
// 503 not connected.
func (s *Server) groupError(c *gin.Context, what string, err error) {
	switch {
	case errors.Is(err, account.ErrGroupNotFound):
		abort(c, http.StatusNotFound, "%s: %v", what, err)
	case errors.Is(err, account.ErrNotInGroup), errors.Is(err, account.ErrNotGroupAdmin):
		abort(c, http.StatusForbidden, "%s: %v", what, err)
	default:
		s.engineError(c, what, err)
	}
}

type actionsQueueResponse struct {
	TotalActions int              `json:"totalActions"`
	First100     []chat.QueueItem `json:"first100"`
}

func (s *Server) showActionsQueue(c *gin.Context) {
	total, items, err := s.opts.Store.ListQueueView(c.Request.Context(), store.ActionItems, 100)
	if err != nil {
		s.log.Error("reading the actions queue", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not read the queue: storage unavailable")
		return
	}
	resp := actionsQueueResponse{TotalActions: total, First100: make([]chat.QueueItem, 0, len(items))}
	for _, it := range items {
		resp.First100 = append(resp.First100, it.Wire())
	}
	c.JSON(http.StatusOK, resp)
}

func (s *Server) clearActionsQueue(c *gin.Context) {
	cl, err := s.opts.Store.ClearQueueView(c.Request.Context(), store.ActionItems)
	if err != nil {
		s.log.Error("clearing the actions queue", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not clear the queue: storage unavailable")
		return
	}
	msg := "Cleared " + itoa(cl.Count) + " actions"
	if cl.Count == 1 {
		msg = "Cleared 1 action"
	}
	c.JSON(http.StatusOK, gin.H{"message": msg, "actionsExample": cl.Examples})
}
