package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// MaxGroupNameLength caps a group name (WhatsApp's subject limit).
const MaxGroupNameLength = 100

type groupRequest struct {
	GroupName flexString `json:"groupName"`
	// Phones and ChatIDs name the members; each is an array or one (comma separated) string.
	Phones      flexStrings `json:"phones"`
	ChatIDs     flexStrings `json:"chatIds"`
	MessageText flexString  `json:"messageText"`
}

type groupResponse struct {
	Created     bool   `json:"created"`
	Message     string `json:"message"`
	ChatID      string `json:"chatId,omitempty"`
	ID          string `json:"id"`
	QueueNumber int64  `json:"queueNumber"`
}

// group queues a group creation and waits up to GroupWait for the group to exist.
func (s *Server) group(c *gin.Context) {
	var req groupRequest
	if !bind(c, &req) {
		return
	}
	name := strings.TrimSpace(string(req.GroupName))
	if name == "" {
		abort(c, http.StatusBadRequest, "groupName is required")
		return
	}
	if utf8.RuneCountInString(name) > MaxGroupNameLength {
		abort(c, http.StatusUnprocessableEntity, "groupName is longer than %d characters", MaxGroupNameLength)
		return
	}
	participants, ok := groupMembers(c, req)
	if !ok {
		return
	}
	meta := queue.Group{GroupName: name, MessageText: string(req.MessageText), Participants: participants}
	it, err := s.opts.Store.Enqueue(c.Request.Context(), store.NewItem{Body: name, Payload: meta})
	if err != nil {
		s.enqueueFailed(c, err, "group")
		return
	}
	s.metrics.Enqueued(queue.KindGroup)
	s.opts.Engine.WakeQueue()
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.opts.GroupWait)
	defer cancel()
	done, err := s.opts.Store.WaitFinished(ctx, it.QueueNumber)
	resp := groupResponse{ID: it.MessageID, QueueNumber: it.QueueNumber}
	switch {
	case err == nil && done.State == store.StateSent:
		resp.Created, resp.ChatID = true, done.Result
		resp.Message = "Group '" + name + "' have been created successfully"
		c.JSON(http.StatusOK, resp)
	case err == nil && done.State == store.StateFailed:
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, gin.H{"error": "group not created: " + done.Reason,
			"created": false, "queueNumber": it.QueueNumber})
	case err == nil, errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		resp.Message = "Group creation queued: it will be created when the account is connected"
		c.JSON(http.StatusOK, resp)
	default:
		s.log.Error("waiting for group creation", "error", err)
		resp.Message = "Group creation queued"
		c.JSON(http.StatusOK, resp)
	}
}

// groupMembers resolves the phones and chatIds of a group request into distinct chat ids of people.
func groupMembers(c *gin.Context, req groupRequest) ([]string, bool) {
	if len(req.Phones)+len(req.ChatIDs) == 0 {
		abort(c, http.StatusBadRequest, "phones or chatIds is required: the members' phone numbers or chat ids")
		return nil, false
	}
	var out []string
	add := func(chatID, phone string) bool {
		id, ok := resolveChat(c, chatID, phone)
		if !ok {
			return false
		}
		if id.Kind == chat.Group {
			abort(c, http.StatusUnprocessableEntity, "%s is a group: members must be people", id)
			return false
		}
		if !slices.Contains(out, id.String()) {
			out = append(out, id.String())
		}
		return true
	}
	for _, p := range req.Phones {
		if !add("", p) {
			return nil, false
		}
	}
	for _, id := range req.ChatIDs {
		if !add(id, "") {
			return nil, false
		}
	}
	return out, true
}
