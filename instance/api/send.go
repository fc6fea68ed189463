package api

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
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
	s.metrics.Enqueued(item.Payload.Kind())
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
	case errors.Is(err, store.ErrNoSpace):
		s.log.Error("enqueue failed: storage full", "error", err)
		abort(c, http.StatusInsufficientStorage, "could not queue the %s: no space left on the storage volume; retry once space is freed", what)
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
	// QuotedMsgID makes the file a reply.
	QuotedMsgID string `json:"quotedMsgId"`
}

func (s *Server) sendFile(c *gin.Context) {
	release, ok := s.acquireFileIntake(c)
	if !ok {
		return
	}
	defer release()
	req, file, ok := s.readSendFile(c)
	if !ok {
		return
	}
	if file != nil {
		defer file.in.Discard()
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok {
		return
	}
	if !utf8.ValidString(req.Caption) || utf8.RuneCountInString(req.Caption) > MaxTextLength {
		abort(c, http.StatusUnprocessableEntity, "caption must be valid UTF-8 of at most %d characters", MaxTextLength)
		return
	}
	if !validQuoted(c, req.QuotedMsgID) {
		return
	}
	if file == nil {
		file, ok = s.fileFromBody(c, req)
		if !ok {
			return
		}
		defer file.in.Discard()
	}
	rel, err := file.in.Commit(media.Outgoing, file.Name)
	if err != nil {
		s.abortFileStore(c, err, "file")
		return
	}
	item := store.NewItem{Chat: to, Body: file.Name, Payload: queue.File{File: rel, FileName: file.Name,
		MimeType: file.MIME, MediaType: file.Kind(), Caption: req.Caption, Size: int(file.Size),
		QuotedMsgID: req.QuotedMsgID}}
	// Nothing half-written: if the item cannot be queued, the stored file goes too.
	s.enqueue(c, item, func() { _ = s.opts.Media.Remove(rel) })
}

// readSendFile reads a JSON / form body or a multipart form with a file field (body or file). A
// multipart file is streamed into the media directory's intake, never held in memory.
func (s *Server) readSendFile(c *gin.Context) (sendFileRequest, *pendingFile, bool) {
	var req sendFileRequest
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "multipart/form-data" {
		return req, nil, bind(c, &req)
	}
	values, file, ok := s.multipartForm(c)
	if !ok {
		return req, nil, false
	}
	req = sendFileRequest{ChatID: flexString(values.Get("chatId")), Phone: flexString(values.Get("phone")),
		Body: values.Get("body"), Filename: values.Get("filename"), Caption: values.Get("caption"),
		QuotedMsgID: values.Get("quotedMsgId")}
	if file != nil && req.Filename != "" {
		file.File = media.Identify(req.Filename, file.declared, file.Head, file.Size)
	}
	return req, file.pending(), true
}

// uploadedFile is a multipart file part received into an intake, with its declared type.
type uploadedFile struct {
	pendingFile
	declared string
}

func (u *uploadedFile) pending() *pendingFile {
	if u == nil {
		return nil
	}
	return &u.pendingFile
}

// readParts reads the parts of a multipart form: the first file in the field body, file or audio
// goes to an intake, other fields (at most MaxJSONBytes together) are returned; other files are
// skipped.
// multipartForm reads a multipart body: its values, and its file part streamed into an intake.
// It answers the client itself (and returns false) when the form is malformed or not UTF-8.
func (s *Server) multipartForm(c *gin.Context) (url.Values, *uploadedFile, bool) {
	mr, err := c.Request.MultipartReader()
	if err != nil {
		abort(c, http.StatusBadRequest, "malformed multipart form: %v", err)
		return nil, nil, false
	}
	values, file, ok := s.readParts(c, mr)
	if !ok {
		return nil, nil, false
	}
	if !validUTF8Form(c, values) {
		if file != nil {
			file.in.Discard()
		}
		return nil, nil, false
	}
	return values, file, true
}

func (s *Server) readParts(c *gin.Context, mr *multipart.Reader) (url.Values, *uploadedFile, bool) {
	values := url.Values{}
	var file *uploadedFile
	fail := func(fn func()) (url.Values, *uploadedFile, bool) {
		if file != nil {
			file.in.Discard()
		}
		fn()
		return nil, nil, false
	}
	budget := s.opts.MaxJSONBytes
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return values, file, true
		}
		if err != nil {
			return fail(func() { abortMultipartError(c, err) })
		}
		field := part.FormName()
		switch {
		case part.FileName() != "" && (field == "body" || field == "file" || field == "audio") && file == nil:
			in, err := s.opts.Media.NewIntake()
			if err != nil {
				return fail(func() { s.abortFileStore(c, err, "file") })
			}
			declared := part.Header.Get("Content-Type")
			f, err := fetch.FromReader(part, part.FileName(), declared, s.opts.MaxFileBytes, in)
			file = &uploadedFile{pendingFile: pendingFile{File: f, in: in}, declared: declared}
			if err != nil {
				return fail(func() { s.abortUploadError(c, err) })
			}
			if f.Size == 0 {
				return fail(func() { abort(c, http.StatusBadRequest, "the uploaded file is empty") })
			}
		case part.FileName() != "":
			// Another file: not sent; NextPart skips it.
		default:
			v, err := io.ReadAll(io.LimitReader(part, budget+1))
			if err != nil {
				return fail(func() { abortMultipartError(c, err) })
			}
			if budget -= int64(len(v)); budget < 0 {
				return fail(func() {
					abort(c, http.StatusRequestEntityTooLarge, "form fields too large: the limit is %d bytes", s.opts.MaxJSONBytes)
				})
			}
			if !values.Has(field) {
				values.Set(field, string(v))
			}
		}
	}
}

// abortMultipartError answers a failure reading a multipart body.
func abortMultipartError(c *gin.Context, err error) {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || errors.Is(err, os.ErrDeadlineExceeded) {
		abortBodyError(c, err)
		return
	}
	abort(c, http.StatusBadRequest, "malformed multipart form: %v", err)
}

// abortUploadError answers a failure receiving an uploaded file.
func (s *Server) abortUploadError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, fetch.ErrTooLarge):
		abort(c, http.StatusRequestEntityTooLarge, "%v", err)
	case errors.Is(err, fetch.ErrStore):
		s.abortFileStore(c, err, "file")
	default:
		abortMultipartError(c, err)
	}
}

// fileFromBody gets the file named by a URL or data URI body, streaming it into an intake.
func (s *Server) fileFromBody(c *gin.Context, req sendFileRequest) (*pendingFile, bool) {
	body := strings.TrimSpace(req.Body)
	if body == "" {
		abort(c, http.StatusBadRequest, "body is required: an http(s) URL, a data URI or a multipart file field")
		return nil, false
	}
	if strings.TrimSpace(req.Filename) == "" {
		abort(c, http.StatusBadRequest, "filename is required, e.g. cover.jpg")
		return nil, false
	}
	in, err := s.opts.Media.NewIntake()
	if err != nil {
		s.abortFileStore(c, err, "file")
		return nil, false
	}
	var file *media.File
	if fetch.IsDataURI(body) {
		file, err = fetch.ParseDataURI(body, req.Filename, s.opts.MaxFileBytes, in)
	} else {
		file, err = s.opts.Fetcher.Get(c.Request.Context(), body, req.Filename, in)
	}
	if err != nil {
		in.Discard()
		if errors.Is(err, fetch.ErrStore) {
			s.log.Error("storing file to send", "error", err)
		}
		abort(c, fileErrorStatus(err), "%v", err)
		return nil, false
	}
	return &pendingFile{File: file, in: in}, true
}

func fileErrorStatus(err error) int {
	switch {
	case errors.Is(err, fetch.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, fetch.ErrUnsupportedType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, fetch.ErrBadURL):
		return http.StatusBadRequest
	case errors.Is(err, fetch.ErrStore) && store.IsNoSpace(err):
		return http.StatusInsufficientStorage
	case errors.Is(err, fetch.ErrStore):
		return http.StatusServiceUnavailable
	}
	return http.StatusUnprocessableEntity // bad data, refused address, download failure
}
