package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tolerance is how far webhook-timestamp may be from the receiver's clock (replay protection).
const Tolerance = 5 * time.Minute

// MaxBody caps a delivery's body.
const MaxBody = 10 << 20

// Payload is the body of a webhook delivery.
type Payload struct {
	// InstanceID names the sending instance.
	InstanceID string `json:"instanceId"`
	// Messages are new messages, incoming and outgoing.
	Messages []Message `json:"messages"`
	// Ack are delivery updates of sent messages (with ack notifications on).
	Ack []Ack `json:"ack"`
}

// Message is one message of a payload (a subset of the fields; see docs/reference.md).
type Message struct {
	// ID is the Chat API message id, true|false_<chatId>_<whatsapp id>.
	ID string `json:"id"`
	// Body is the text, or the media link for files.
	Body string `json:"body"`
	// Type is the message kind (chat, image, document, …).
	Type string `json:"type"`
	// ChatID is the chat, <digits>@c.us, <id>@g.us or <id>@lid.
	ChatID string `json:"chatId"`
	// FromMe is true for messages the account sent.
	FromMe bool `json:"fromMe"`
	// MessageNumber is the instance's monotonic number (GET /messages pages by it).
	MessageNumber int64 `json:"messageNumber"`
	// Time is the message time in Unix seconds.
	Time int64 `json:"time"`
}

// Ack is one delivery update: status is sent, delivered, viewed or failed.
type Ack struct {
	// ID is the sent message's id.
	ID string `json:"id"`
	// QueueNumber is the number the send was answered with.
	QueueNumber int64 `json:"queueNumber"`
	// ChatID is the recipient chat.
	ChatID string `json:"chatId"`
	// Status is sent, delivered, viewed or failed.
	Status string `json:"status"`
}

// Verifier checks Standard Webhooks signatures.
type Verifier struct {
	key []byte
	now func() time.Time
}

// NewVerifier takes the signing secret as configured on the instance: whsec_<base64>, or without
// the prefix standard padded base64 (decoded too, as the Standard Webhooks libraries do), or else
// raw bytes. An empty secret accepts unsigned deliveries.
func NewVerifier(secret string) (*Verifier, error) {
	v := &Verifier{now: time.Now}
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil || len(key) == 0 {
			return nil, errors.New("whsec_ must be followed by a non-empty base64 key")
		}
		v.key = key
	} else if key, err := base64.StdEncoding.DecodeString(secret); err == nil && len(key) > 0 &&
		len(secret)%4 == 0 && !strings.ContainsAny(secret, "\r\n") {
		v.key = key
	} else if secret != "" {
		v.key = []byte(secret)
	}
	return v, nil
}

// Verify checks the webhook-signature header against id, timestamp and body: HMAC-SHA256 of
// "id.timestamp.body", base64, prefixed "v1,"; the header may carry several space-separated
// signatures (key rotation). The timestamp must be within Tolerance.
func (v *Verifier) Verify(id, timestamp, signatures string, body []byte) error {
	if v.key == nil {
		return nil
	}
	if id == "" || timestamp == "" || signatures == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("bad webhook-timestamp: %w", err)
	}
	if d := v.now().Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return errors.New("webhook-timestamp too far from now")
	}
	mac := hmac.New(sha256.New, v.key)
	fmt.Fprintf(mac, "%s.%s.", id, timestamp)
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(signatures) {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

// Handler receives deliveries: verify, de-duplicate by webhook-id, decode, Handle, answer 2xx.
// A non-2xx answer makes the instance retry the same delivery later.
type Handler struct {
	Verifier *Verifier
	Handle   func(Payload) error
	Log      *slog.Logger

	mu   sync.Mutex
	seen map[string]time.Time
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	id := r.Header.Get("webhook-id")
	if err := h.Verifier.Verify(id, r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body); err != nil {
		h.Log.Warn("refused webhook", "id", id, "error", err)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	if id != "" && h.duplicate(id) {
		w.WriteHeader(http.StatusNoContent) // already handled: a retry whose answer was lost
		return
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		h.forget(id)
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	if err := h.Handle(p); err != nil {
		h.forget(id) // let the retry try again
		h.Log.Error("handling webhook", "id", id, "error", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// duplicate records id and reports whether it was seen within twice the tolerance (older
// deliveries are refused by their timestamp anyway).
func (h *Handler) duplicate(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if h.seen == nil {
		h.seen = map[string]time.Time{}
	}
	for k, t := range h.seen {
		if now.Sub(t) > 2*Tolerance {
			delete(h.seen, k)
		}
	}
	if _, ok := h.seen[id]; ok {
		return true
	}
	h.seen[id] = now
	return false
}

func (h *Handler) forget(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.seen, id)
}
