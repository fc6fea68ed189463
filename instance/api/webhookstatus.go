package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// webhookStatusReply is the answer of GET /webhookStatus.
type webhookStatusReply struct {
	MsgID string `json:"msgId"`
	// PendingEvents counts events about the message not yet put in a payload (e.g. acks waiting
	// for an earlier payload of the same message to be delivered).
	PendingEvents int              `json:"pendingEvents"`
	Payloads      []payloadAttempt `json:"payloads"`
}

// payloadAttempt is the delivery state of one webhook payload; times are Unix milliseconds.
type payloadAttempt struct {
	WebhookID string `json:"webhookId"`
	Events    int    `json:"events"`
	// Attempts counts the POSTs made, the successful one included.
	Attempts    int    `json:"attempts"`
	LastError   string `json:"lastError,omitempty"`
	Delivered   bool   `json:"delivered"`
	GivenUp     bool   `json:"givenUp"`
	CreatedAt   int64  `json:"createdAt"`
	LastAttempt int64  `json:"lastAttempt,omitempty"`
	NextAttempt int64  `json:"nextAttempt,omitempty"`
	DeliveredAt int64  `json:"deliveredAt,omitempty"`
}

// webhookStatus shows the webhook payloads that carried a message or its acks.
func (s *Server) webhookStatus(c *gin.Context) {
	id := strings.TrimSpace(c.Query("msgId"))
	if id == "" {
		abort(c, http.StatusBadRequest, "msgId is required (a Chat API message id such as true_<chatId>_<id>)")
		return
	}
	if _, err := chat.ParseMessageID(id); err != nil {
		abort(c, http.StatusBadRequest, "msgId: %v", err)
		return
	}
	pending, batches, err := s.opts.Store.WebhookStatus(c.Request.Context(), id)
	if err != nil {
		s.log.Error("reading webhook status", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not read the webhook status")
		return
	}
	reply := webhookStatusReply{MsgID: id, PendingEvents: pending, Payloads: make([]payloadAttempt, 0, len(batches))}
	for _, b := range batches {
		reply.Payloads = append(reply.Payloads, payloadOf(b))
	}
	c.JSON(http.StatusOK, reply)
}

func payloadOf(b store.Batch) payloadAttempt {
	p := payloadAttempt{WebhookID: b.ID, Events: b.Events, Attempts: b.Attempts, LastError: b.LastError,
		Delivered: !b.DeliveredAt.IsZero(), GivenUp: b.Dead, CreatedAt: b.CreatedAt.UnixMilli(),
		LastAttempt: millis(b.LastAttempt), DeliveredAt: millis(b.DeliveredAt)}
	switch {
	case p.Delivered:
		p.Attempts++ // the store counts failed attempts
	case p.GivenUp:
		p.Attempts-- // giving up counts as one more failure there, without a POST
	default:
		p.NextAttempt = b.NextAttempt.UnixMilli()
	}
	return p
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
