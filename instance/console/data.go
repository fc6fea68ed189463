package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// call makes one in-process request to the Chat API with the token and decodes its JSON answer
// into out (when the status is 2xx and out is not nil). It returns the status code; an error
// answer's {"error"} text comes back as the error.
func (c *Console) call(ctx context.Context, method, path string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	req.RemoteAddr = "console"
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	c.opts.API.ServeHTTP(rec, req)
	if rec.code/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(rec.body.Bytes(), &e) == nil && e.Error != "" {
			return rec.code, fmt.Errorf("%s", e.Error)
		}
		return rec.code, fmt.Errorf("%s %s: status %d", method, path, rec.code)
	}
	if out != nil {
		if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
			return rec.code, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return rec.code, nil
}

// recorder is the ResponseWriter of an in-process API call.
type recorder struct {
	header http.Header
	body   bytes.Buffer
	code   int
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// apiStatus is GET /status?full=true.
type apiStatus struct {
	AccountStatus string `json:"accountStatus"`
	StatusData    struct {
		Substatus string `json:"substatus"`
		Message   string `json:"msg"`
		Network   string `json:"network"`
	} `json:"statusData"`
}

// apiMe is GET /me.
type apiMe struct {
	ID, Phone, Name, Platform, BusinessName string
}

// apiQueue is GET /showMessagesQueue.
type apiQueue struct {
	TotalMessages int `json:"totalMessages"`
	First100      []struct {
		ID        int64  `json:"id"`
		Body      string `json:"body"`
		Type      string `json:"type"`
		ChatID    string `json:"chatId"`
		LastTry   int64  `json:"last_try"`
		MessageID string `json:"messageId"`
		Status    string `json:"status"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
		NextTry   int64  `json:"next_try"`
	} `json:"first100"`
}

// apiMessage is one message of GET /messages.
type apiMessage struct {
	ID            string `json:"id"`
	Body          string `json:"body"`
	Type          string `json:"type"`
	SenderName    string `json:"senderName"`
	FromMe        bool   `json:"fromMe"`
	Time          int64  `json:"time"`
	ChatID        string `json:"chatId"`
	ChatName      string `json:"chatName"`
	MessageNumber int64  `json:"messageNumber"`
	Caption       string `json:"caption"`
	FileName      string `json:"fileName"`
	MimeType      string `json:"mimeType"`
	// Preview is the console-relative link of an image's file ("" if none).
	Preview string `json:"-"`
	// Deliveries are the webhook payloads that carried the message or its acks.
	Deliveries []apiPayload `json:"-"`
}

// apiPayload is one payload of GET /webhookStatus.
type apiPayload struct {
	WebhookID   string `json:"webhookId"`
	Events      int    `json:"events"`
	Attempts    int    `json:"attempts"`
	LastError   string `json:"lastError"`
	Delivered   bool   `json:"delivered"`
	GivenUp     bool   `json:"givenUp"`
	CreatedAt   int64  `json:"createdAt"`
	LastAttempt int64  `json:"lastAttempt"`
	NextAttempt int64  `json:"nextAttempt"`
	DeliveredAt int64  `json:"deliveredAt"`
}

// apiWebhook is GET /webhook.
type apiWebhook struct {
	WebhookURL string `json:"webhookUrl"`
}

// Page sizes of the account view.
const (
	recentMessages   = 20
	deliveryMessages = 10
)

// account gathers the account view: phone, queue, recent messages with their webhook deliveries.
// Parts that fail are left out with a note; the page still renders.
func (c *Console) account(ctx context.Context, d *pageData) {
	note := func(what string, err error) { d.Notes = append(d.Notes, what+": "+err.Error()) }
	var me apiMe
	if _, err := c.call(ctx, http.MethodGet, "/me", &me); err != nil {
		note("phone", err)
	} else {
		d.Me = &me
	}
	var q apiQueue
	if _, err := c.call(ctx, http.MethodGet, "/showMessagesQueue", &q); err != nil {
		note("queue", err)
	} else {
		d.Queue = &q
	}
	var hook apiWebhook
	if _, err := c.call(ctx, http.MethodGet, "/webhook", &hook); err == nil {
		d.WebhookURL = hook.WebhookURL
	}
	var msgs struct {
		Messages []apiMessage `json:"messages"`
	}
	if _, err := c.call(ctx, http.MethodGet, fmt.Sprintf("/messages?last=true&limit=%d", recentMessages), &msgs); err != nil {
		note("messages", err)
		return
	}
	list := msgs.Messages
	for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 { // newest first
		list[i], list[j] = list[j], list[i]
	}
	for i := range list {
		m := &list[i]
		if m.Type == "image" || m.Type == "sticker" {
			m.Preview = mediaLink(m.Body)
		}
		if i < deliveryMessages {
			var ws struct {
				Payloads []apiPayload `json:"payloads"`
			}
			if _, err := c.call(ctx, http.MethodGet, "/webhookStatus?msgId="+url.QueryEscape(m.ID), &ws); err == nil {
				m.Deliveries = ws.Payloads
			}
		}
	}
	d.Messages = list
}

// mediaLink turns a message's media URL (absolute under the instance's public URL) into the
// console's own relative link, which the session cookie authorizes.
func mediaLink(body string) string {
	_, file, ok := strings.Cut(body, "/media/")
	if !ok || file == "" || strings.Contains(file, "..") {
		return ""
	}
	if i := strings.IndexAny(file, "?#"); i >= 0 {
		file = file[:i]
	}
	return "media/" + file
}

// media serves a message's file for previews through the API's /media endpoint.
func (c *Console) media(w http.ResponseWriter, r *http.Request, file string) {
	req := r.Clone(r.Context())
	req.URL = &url.URL{Path: "/media/" + file}
	req.RequestURI = ""
	req.Header = http.Header{"Authorization": {"Bearer " + c.opts.Token}}
	for _, h := range []string{"Range", "If-Modified-Since", "If-None-Match", "If-Range"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	c.opts.API.ServeHTTP(w, req)
}
