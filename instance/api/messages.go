package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// PageSize is how many messages GET /messages returns per page (and `last` returns).
const PageSize = 100

// MaxPageSize caps the optional limit parameter; limit=0 (chat-api.com's "all") means this many.
const MaxPageSize = 1000

// millisecondsFrom: min_time and max_time at or above this are taken as milliseconds (JavaScript's
// Date.now()); unix seconds reach it only in the year 33658.
const millisecondsFrom = 1_000_000_000_000

type messagesResponse struct {
	Messages          []chat.Message `json:"messages"`
	LastMessageNumber int64          `json:"lastMessageNumber"`
}

// messages pages the journal: messages after lastMessageNumber, or the last ones with `last`,
// optionally of one chat (chatId) and within a time window (min_time, max_time, inclusive).
func (s *Server) messages(c *gin.Context) {
	q, ok := messageQuery(c)
	if !ok {
		return
	}
	msgs, err := s.opts.Store.FindMessages(c.Request.Context(), q)
	if err != nil {
		s.log.Error("reading messages", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not read messages: storage unavailable")
		return
	}
	next := q.After
	if len(msgs) > 0 {
		next = msgs[len(msgs)-1].MessageNumber
	}
	base := s.mediaBase(c)
	if s.opts.PublicURL == "" {
		base += instancePrefix(c.Request) // links come back the way the request came in
	}
	rewrite := RewriteMedia(base)
	for i := range msgs {
		rewrite(&msgs[i])
		if msgs[i].ChatName == "" { // journaled before chatName was recorded
			msgs[i].ChatName = strings.Split(msgs[i].ChatID, "@")[0]
		}
	}
	c.JSON(http.StatusOK, messagesResponse{Messages: msgs, LastMessageNumber: next})
}

// messageQuery reads the parameters of GET /messages; it answers 400 itself on bad ones.
func messageQuery(c *gin.Context) (store.MessageQuery, bool) {
	var q store.MessageQuery
	after, ok := queryInt(c, "lastMessageNumber", 0)
	if !ok {
		return q, false
	}
	limit, ok := queryInt(c, "limit", PageSize)
	if !ok {
		return q, false
	}
	if limit == 0 || limit > MaxPageSize {
		limit = MaxPageSize
	}
	q.After, q.Limit = after, int(limit)
	if raw, given := c.GetQuery("last"); given {
		last := true // a bare ?last
		if strings.TrimSpace(raw) != "" {
			var err error
			if last, err = parseBool(raw); err != nil {
				abort(c, http.StatusBadRequest, "last: %v", err)
				return q, false
			}
		}
		if last { // the seed: with last, lastMessageNumber is ignored
			q.Last, q.After = true, 0
		}
	}
	if raw := strings.TrimSpace(c.Query("chatId")); raw != "" {
		id, err := chat.Resolve(raw, "")
		if err != nil {
			abort(c, http.StatusBadRequest, "chatId: %v", err)
			return q, false
		}
		q.ChatID = id.String()
	}
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"min_time", &q.MinTime}, {"max_time", &q.MaxTime}} {
		v, ok := queryInt(c, p.name, 0)
		if !ok {
			return q, false
		}
		if v >= millisecondsFrom {
			v /= 1000
		}
		*p.dst = v
	}
	if q.MinTime > 0 && q.MaxTime > 0 && q.MinTime > q.MaxTime {
		abort(c, http.StatusBadRequest, "min_time (%d) is after max_time (%d)", q.MinTime, q.MaxTime)
		return q, false
	}
	return q, true
}

type queueResponse struct {
	TotalMessages int              `json:"totalMessages"`
	First100      []chat.QueueItem `json:"first100"`
	// Pacing is the queue's pacing (sendDelay, sendJitter, dailyLimit) and its next send time.
	Pacing *account.Pacing `json:"pacing,omitempty"`
}

func (s *Server) showQueue(c *gin.Context) {
	total, items, err := s.opts.Store.ListQueueView(c.Request.Context(), store.MessageItems, 100)
	if err != nil {
		s.log.Error("reading queue", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not read the queue: storage unavailable")
		return
	}
	resp := queueResponse{TotalMessages: total, First100: make([]chat.QueueItem, 0, len(items)), Pacing: s.pacing(c)}
	for _, it := range items {
		resp.First100 = append(resp.First100, it.Wire())
	}
	c.JSON(http.StatusOK, resp)
}

func (s *Server) clearQueue(c *gin.Context) {
	cl, err := s.opts.Store.ClearQueueView(c.Request.Context(), store.MessageItems)
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
