package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// sendResponse is the answer to every accepted send.
type sendResponse struct {
	Sent        bool   `json:"sent"`
	Message     string `json:"message"`
	ID          string `json:"id"`
	QueueNumber int64  `json:"queueNumber"`
}

type sendMessageRequest struct {
	ChatID      flexString  `json:"chatId"`
	Phone       flexString  `json:"phone"`
	Body        *flexString `json:"body"`
	QuotedMsgID string      `json:"quotedMsgId"`
}

func (s *Server) sendMessage(c *gin.Context) {
	var req sendMessageRequest
	if !bind(c, &req) {
		return
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok {
		return
	}
	if req.Body == nil || strings.TrimSpace(string(*req.Body)) == "" {
		abort(c, http.StatusBadRequest, "body is required: the message text")
		return
	}
	body := string(*req.Body)
	if !utf8.ValidString(body) || utf8.RuneCountInString(body) > MaxTextLength {
		abort(c, http.StatusUnprocessableEntity, "body must be valid UTF-8 of at most %d characters", MaxTextLength)
		return
	}
	if req.QuotedMsgID != "" {
		if _, err := chat.ParseMessageID(req.QuotedMsgID); err != nil {
			abort(c, http.StatusUnprocessableEntity, "quotedMsgId: %v", err)
			return
		}
	}
	s.enqueue(c, store.NewItem{Chat: to, Body: body, Payload: queue.Text{QuotedMsgID: req.QuotedMsgID}}, nil)
}

// resolveChat answers 400 when neither chatId nor phone is given and 422 when one is invalid.
func resolveChat(c *gin.Context, chatID, phone string) (chat.ID, bool) {
	if strings.TrimSpace(chatID) == "" && strings.TrimSpace(phone) == "" {
		abort(c, http.StatusBadRequest, "chatId or phone is required")
		return chat.ID{}, false
	}
	to, err := chat.Resolve(chatID, phone)
	if err != nil {
		abort(c, http.StatusUnprocessableEntity, "%v", err)
		return chat.ID{}, false
	}
	return to, true
}

// enqueue queues item durably and answers; on failure it runs undo and answers 503.
func (s *Server) enqueue(c *gin.Context, item store.NewItem, undo func()) {
	it, err := s.opts.Store.Enqueue(c.Request.Context(), item)
	if err != nil {
		if undo != nil {
			undo()
		}
		s.enqueueFailed(c, err, "message")
		return
	}
	s.metrics.enqueued.WithLabelValues(item.Payload.Kind()).Inc()
	s.opts.Engine.WakeQueue()
	c.JSON(http.StatusOK, sendResponse{Sent: true, Message: "ok", ID: it.MessageID, QueueNumber: it.QueueNumber})
}

// enqueueFailed answers a send the store did not queue: 429 when the queue holds its maximum of
// items, 507 when its files would pass the byte cap, 503 otherwise.
func (s *Server) enqueueFailed(c *gin.Context, err error, what string) {
	switch {
	case errors.Is(err, store.ErrQueueFull):
		abort(c, http.StatusTooManyRequests, "could not queue the %s: %v; retry once the queue drains", what, err)
	case errors.Is(err, store.ErrQueueTooLarge):
		abort(c, http.StatusInsufficientStorage, "could not queue the %s: %v; retry once the queue drains", what, err)
	default:
		s.log.Error("enqueue failed", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not queue the %s: storage unavailable", what)
	}
}

type sendFileRequest struct {
	ChatID   flexString `json:"chatId"`
	Phone    flexString `json:"phone"`
	Body     string     `json:"body"`
	Filename string     `json:"filename"`
	Caption  string     `json:"caption"`
}

func (s *Server) sendFile(c *gin.Context) {
	req, file, ok := s.readSendFile(c)
	if !ok {
		return
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok {
		return
	}
	if !utf8.ValidString(req.Caption) || utf8.RuneCountInString(req.Caption) > MaxTextLength {
		abort(c, http.StatusUnprocessableEntity, "caption must be valid UTF-8 of at most %d characters", MaxTextLength)
		return
	}
	if file == nil {
		file, ok = s.fileFromBody(c, req)
		if !ok {
			return
		}
	}
	rel, err := s.opts.Media.Save(media.Outgoing, file.Name, file.Data)
	if err != nil {
		s.log.Error("storing file to send", "error", err)
		abort(c, http.StatusServiceUnavailable, "could not store the file")
		return
	}
	item := store.NewItem{Chat: to, Body: file.Name, Payload: queue.File{File: rel, FileName: file.Name,
		MimeType: file.MIME, MediaType: file.Kind(), Caption: req.Caption, Size: len(file.Data)}}
	// Nothing half-written: if the item cannot be queued, the stored file goes too.
	s.enqueue(c, item, func() { _ = s.opts.Media.Remove(rel) })
}

// readSendFile reads a JSON / form body or a multipart form with a file field (body or file).
func (s *Server) readSendFile(c *gin.Context) (sendFileRequest, *fetch.File, bool) {
	var req sendFileRequest
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "multipart/form-data" {
		return req, nil, bind(c, &req)
	}
	if err := c.Request.ParseMultipartForm(8 << 20); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			abort(c, http.StatusRequestEntityTooLarge, "request body too large: the limit is %d bytes", tooLarge.Limit)
		} else {
			abort(c, http.StatusBadRequest, "malformed multipart form: %v", err)
		}
		return req, nil, false
	}
	form := c.Request.MultipartForm
	defer func() { _ = form.RemoveAll() }() // large parts were spooled to temporary files
	get := func(k string) string {
		if v := form.Value[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	req = sendFileRequest{ChatID: flexString(get("chatId")), Phone: flexString(get("phone")),
		Body: get("body"), Filename: get("filename"), Caption: get("caption")}
	for _, field := range []string{"body", "file"} {
		if fh := form.File[field]; len(fh) > 0 {
			if fh[0].Size > s.opts.MaxFileBytes {
				abort(c, http.StatusRequestEntityTooLarge, "file too large: the limit is %d bytes", s.opts.MaxFileBytes)
				return req, nil, false
			}
			f, err := fh[0].Open()
			if err != nil {
				abort(c, http.StatusBadRequest, "reading the uploaded file: %v", err)
				return req, nil, false
			}
			data, err := io.ReadAll(f)
			_ = f.Close()
			if err != nil {
				abort(c, http.StatusBadRequest, "reading the uploaded file: %v", err)
				return req, nil, false
			}
			name := req.Filename
			if name == "" {
				name = fh[0].Filename
			}
			if len(data) == 0 {
				abort(c, http.StatusBadRequest, "the uploaded file is empty")
				return req, nil, false
			}
			return req, fetch.FromUpload(name, fh[0].Header.Get("Content-Type"), data), true
		}
	}
	return req, nil, true
}

// fileFromBody gets the file named by a URL or data URI body.
func (s *Server) fileFromBody(c *gin.Context, req sendFileRequest) (*fetch.File, bool) {
	body := strings.TrimSpace(req.Body)
	if body == "" {
		abort(c, http.StatusBadRequest, "body is required: an http(s) URL, a data URI or a multipart file field")
		return nil, false
	}
	if strings.TrimSpace(req.Filename) == "" {
		abort(c, http.StatusBadRequest, "filename is required, e.g. cover.jpg")
		return nil, false
	}
	var file *fetch.File
	var err error
	if fetch.IsDataURI(body) {
		file, err = fetch.ParseDataURI(body, req.Filename, s.opts.MaxFileBytes)
	} else {
		file, err = s.opts.Fetcher.Get(c.Request.Context(), body, req.Filename)
	}
	if err != nil {
		abort(c, fileErrorStatus(err), "%v", err)
		return nil, false
	}
	return file, true
}

func fileErrorStatus(err error) int {
	switch {
	case errors.Is(err, fetch.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, fetch.ErrUnsupportedType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, fetch.ErrBadURL):
		return http.StatusBadRequest
	}
	return http.StatusUnprocessableEntity // bad data, refused address, download failure
}
