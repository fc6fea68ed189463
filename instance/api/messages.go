package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// PageSize is how many messages GET /messages returns per page (and `last` returns).
const PageSize = 100

// MaxPageSize caps the optional limit parameter.
const MaxPageSize = 1000

type messagesResponse struct {
	Messages          []chat.Message `json:"messages"`
	LastMessageNumber int64          `json:"lastMessageNumber"`
}

// messages pages the journal: messages after lastMessageNumber, or the last 100 with `last`.
func (s *Server) messages(c *gin.Context) {
	after, ok := queryInt(c, "lastMessageNumber", 0)
	if !ok {
		return
	}
	limit, ok := queryInt(c, "limit", PageSize)
	if !ok {
		return
	}
	if limit < 1 || limit > MaxPageSize {
		abort(c, http.StatusBadRequest, "limit must be between 1 and %d", MaxPageSize)
		return
	}
	var msgs []chat.Message
	var err error
	if last, given := c.GetQuery("last"); given && last != "0" && last != "false" {
		msgs, err = s.opts.Store.LastMessages(c.Request.Context(), int(limit))
		after = 0
	} else {
		msgs, err = s.opts.Store.Messages(c.Request.Context(), after, int(limit))
	}
	if err != nil {
		s.log.Error("reading messages", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not read messages: storage unavailable")
		return
	}
	next := after
	if len(msgs) > 0 {
		next = msgs[len(msgs)-1].MessageNumber
	}
	rewrite := RewriteMedia(s.mediaBase(c))
	for i := range msgs {
		rewrite(&msgs[i])
	}
	c.JSON(http.StatusOK, messagesResponse{Messages: msgs, LastMessageNumber: next})
}

type queueResponse struct {
	TotalMessages int              `json:"totalMessages"`
	First100      []chat.QueueItem `json:"first100"`
}

func (s *Server) showQueue(c *gin.Context) {
	total, items, err := s.opts.Store.ListQueue(c.Request.Context(), 100)
	if err != nil {
		s.log.Error("reading queue", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not read the queue: storage unavailable")
		return
	}
	resp := queueResponse{TotalMessages: total, First100: make([]chat.QueueItem, 0, len(items))}
	for _, it := range items {
		resp.First100 = append(resp.First100, it.Wire())
	}
	c.JSON(http.StatusOK, resp)
}

func (s *Server) clearQueue(c *gin.Context) {
	cl, err := s.opts.Store.ClearQueue(c.Request.Context())
	if err != nil {
		s.log.Error("clearing queue", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not clear the queue: storage unavailable")
		return
	}
	for _, f := range cl.Files { // the files of removed sends are no longer needed
		if err := s.opts.Media.Remove(f); err != nil {
			s.log.Warn("removing a cleared queued file", "file", f, "error", err)
		}
	}
	c.JSON(http.StatusOK, gin.H{"message": clearedText(cl.Count), "messageTextsExample": cl.Examples})
}

func clearedText(n int) string {
	if n == 1 {
		return "Cleared 1 message"
	}
	return "Cleared " + itoa(n) + " messages"
}
