package api

import (
	"bytes"
	"encoding/json"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// The content sends of the whole WhatsApp surface: locations, contact cards, links with a preview
// and voice notes. Each is queued like POST /sendMessage, answers the same way and takes
// quotedMsgId (a reply).

const (
	// maxAddressLength caps a location's address, in characters.
	maxAddressLength = 1024
	// maxVCardBytes caps a contact card.
	maxVCardBytes = 64 << 10
	// pttMIME is the media type of a voice note as phones expect it.
	pttMIME = "audio/ogg; codecs=opus"
)

// contentRoutes registers the content sends on the token-protected group a.
func (s *Server) contentRoutes(a *gin.RouterGroup) {
	a.POST("/sendLocation", s.limitBody(s.opts.MaxJSONBytes), s.sendLocation)
	a.POST("/sendVCard", s.limitBody(s.opts.MaxJSONBytes), s.sendVCard)
	a.POST("/sendContact", s.limitBody(s.opts.MaxJSONBytes), s.sendContact)
	// previewBase64 may carry up to maxPreviewBytes of image, base64 encoded, beside the fields.
	a.POST("/sendLink", s.limitBody(s.opts.MaxJSONBytes+maxPreviewBytes/3*4+8), s.sendLink)
	a.POST("/sendPTT", s.limitBody(s.opts.MaxFileBytes/3*4+s.opts.MaxJSONBytes), s.sendPTT)
}

// validQuoted answers 422 when a quotedMsgId is given and is not a Chat API message id.
func validQuoted(c *gin.Context, id string) bool {
	if id == "" {
		return true
	}
	if _, err := chat.ParseMessageID(id); err != nil {
		abort(c, http.StatusUnprocessableEntity, "quotedMsgId: %v", err)
		return false
	}
	return true
}

// validText answers 422 when a text field is not UTF-8 or longer than limit characters.
func validText(c *gin.Context, field, value string, limit int) bool {
	if !utf8.ValidString(value) || utf8.RuneCountInString(value) > limit {
		abort(c, http.StatusUnprocessableEntity, "%s must be valid UTF-8 of at most %d characters", field, limit)
		return false
	}
	return true
}

// flexNumber is a request field holding a number, as a JSON number or a numeric string (forms);
// anything else is kept as given so the handler can answer 422 naming it.
type flexNumber struct {
	Set bool
	Raw string
}

// UnmarshalJSON never fails: the handler judges the value.
func (f *flexNumber) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	f.Set = true
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		f.Raw = strings.TrimSpace(s)
		return nil
	}
	f.Raw = string(b)
	return nil
}

// float parses the number; ok is false for anything but a finite decimal number.
func (f flexNumber) float() (float64, bool) {
	v, err := strconv.ParseFloat(f.Raw, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(f.Raw, "xXpP_") {
		return 0, false
	}
	return v, true
}

type sendLocationRequest struct {
	ChatID      flexString `json:"chatId"`
	Phone       flexString `json:"phone"`
	Lat         flexNumber `json:"lat"`
	Lng         flexNumber `json:"lng"`
	Address     string     `json:"address"`
	QuotedMsgID string     `json:"quotedMsgId"`
}

func (s *Server) sendLocation(c *gin.Context) {
	var req sendLocationRequest
	if !bind(c, &req) {
		return
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok {
		return
	}
	if !req.Lat.Set || !req.Lng.Set {
		abort(c, http.StatusBadRequest, "lat and lng are required: the location's latitude and longitude in degrees")
		return
	}
	lat, latOK := req.Lat.float()
	lng, lngOK := req.Lng.float()
	switch {
	case !latOK || lat < -90 || lat > 90:
		abort(c, http.StatusUnprocessableEntity, "lat must be a number from -90 to 90, not %q", req.Lat.Raw)
		return
	case !lngOK || lng < -180 || lng > 180:
		abort(c, http.StatusUnprocessableEntity, "lng must be a number from -180 to 180, not %q", req.Lng.Raw)
		return
	}
	if !validText(c, "address", req.Address, maxAddressLength) || !validQuoted(c, req.QuotedMsgID) {
		return
	}
	body := strconv.FormatFloat(lat, 'f', -1, 64) + ";" + strconv.FormatFloat(lng, 'f', -1, 64)
	s.enqueue(c, store.NewItem{Chat: to, Body: body, Payload: queue.Location{Lat: lat, Lng: lng,
		Address: strings.TrimSpace(req.Address), QuotedMsgID: req.QuotedMsgID}}, nil)
}

type sendVCardRequest struct {
	ChatID      flexString `json:"chatId"`
	Phone       flexString `json:"phone"`
	VCard       string     `json:"vcard"`
	QuotedMsgID string     `json:"quotedMsgId"`
}

func (s *Server) sendVCard(c *gin.Context) {
	var req sendVCardRequest
	if !bind(c, &req) {
		return
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok {
		return
	}
	card := strings.TrimSpace(req.VCard)
	if card == "" {
		abort(c, http.StatusBadRequest, "vcard is required: a contact card BEGIN:VCARD … END:VCARD")
		return
	}
	if !isVCard(card) {
		abort(c, http.StatusUnprocessableEntity, "vcard must be a vCard (BEGIN:VCARD … END:VCARD) of valid UTF-8, at most %d bytes", maxVCardBytes)
		return
	}
	if !validQuoted(c, req.QuotedMsgID) {
		return
	}
	s.enqueue(c, store.NewItem{Chat: to, Body: card, Payload: queue.VCard{VCard: card, DisplayName: vcardName(card),
		QuotedMsgID: req.QuotedMsgID}}, nil)
}

// isVCard reports whether card (trimmed) is one vCard of valid UTF-8 within the size cap.
func isVCard(card string) bool {
	upper := strings.ToUpper(card)
	return len(card) <= maxVCardBytes && utf8.ValidString(card) && strings.HasPrefix(upper, "BEGIN:VCARD") &&
		strings.HasSuffix(upper, "END:VCARD") && strings.Count(upper, "BEGIN:VCARD") == 1
}

// vcardName is the formatted name (FN) of a vCard, else its structured name (N), else "".
func vcardName(card string) string {
	var structured string
	for _, line := range strings.Split(strings.ReplaceAll(card, "\r\n", "\n"), "\n") {
		prop, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(prop)), ";")
		switch name {
		case "FN":
			if v := unescapeVCard(value); v != "" {
				return v
			}
		case "N":
			var parts []string
			for _, p := range strings.Split(value, ";") {
				if p = unescapeVCard(p); p != "" {
					parts = append([]string{p}, parts...) // family name last
				}
			}
			structured = strings.Join(parts, " ")
		}
	}
	return structured
}

var (
	vcardUnescaper = strings.NewReplacer(`\n`, " ", `\N`, " ", `\,`, ",", `\;`, ";", `\\`, `\`)
	vcardEscaper   = strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)
)

func unescapeVCard(v string) string { return strings.TrimSpace(vcardUnescaper.Replace(v)) }

type sendContactRequest struct {
	ChatID      flexString `json:"chatId"`
	Phone       flexString `json:"phone"`
	ContactID   flexString `json:"contactId"`
	QuotedMsgID string     `json:"quotedMsgId"`
}

func (s *Server) sendContact(c *gin.Context) {
	var req sendContactRequest
	if !bind(c, &req) {
		return
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok {
		return
	}
	if strings.TrimSpace(string(req.ContactID)) == "" {
		abort(c, http.StatusBadRequest, "contactId is required: the chat id of the person to share, e.g. 17472822486@c.us")
		return
	}
	contact, err := chat.Resolve(string(req.ContactID), "")
	if err != nil || contact.Kind != chat.Person {
		abort(c, http.StatusUnprocessableEntity, "contactId must be a person's chat id with a phone number, e.g. 17472822486@c.us, not %q",
			string(req.ContactID))
		return
	}
	if !validQuoted(c, req.QuotedMsgID) {
		return
	}
	name := s.contactName(c, contact)
	card := contactVCard(name, contact.User)
	s.enqueue(c, store.NewItem{Chat: to, Body: card, Payload: queue.VCard{VCard: card, DisplayName: name,
		QuotedMsgID: req.QuotedMsgID}}, nil)
}

// contactName is the name the journal knows for a person's chat (its latest chatName), else the
// number as +digits.
func (s *Server) contactName(c *gin.Context, contact chat.ID) string {
	msgs, err := s.opts.Store.FindMessages(c.Request.Context(), store.MessageQuery{ChatID: contact.String(), Limit: 1, Last: true})
	if err != nil {
		s.log.Warn("reading the contact's name", "err", err)
	}
	if len(msgs) > 0 {
		if name := strings.TrimSpace(msgs[0].ChatName); name != "" && name != contact.User {
			return name
		}
	}
	return "+" + contact.User
}

// contactVCard is the vCard WhatsApp's apps share for a contact: its name and its number, with the
// waid parameter that makes the card open the chat.
func contactVCard(name, digits string) string {
	return "BEGIN:VCARD\nVERSION:3.0\nFN:" + vcardEscaper.Replace(name) + "\nTEL;type=CELL;type=VOICE;waid=" + digits +
		":+" + digits + "\nEND:VCARD"
}

type sendLinkRequest struct {
	ChatID        flexString  `json:"chatId"`
	Phone         flexString  `json:"phone"`
	Body          *flexString `json:"body"`
	Title         string      `json:"title"`
	Description   string      `json:"description"`
	PreviewBase64 string      `json:"previewBase64"`
	QuotedMsgID   string      `json:"quotedMsgId"`
}

func (s *Server) sendLink(c *gin.Context) {
	var req sendLinkRequest
	if !bind(c, &req) {
		return
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok {
		return
	}
	if req.Body == nil || strings.TrimSpace(string(*req.Body)) == "" {
		abort(c, http.StatusBadRequest, "body is required: the text with the link")
		return
	}
	body := string(*req.Body)
	if !validText(c, "body", body, MaxTextLength) || !validText(c, "title", req.Title, maxTitleLength) ||
		!validText(c, "description", req.Description, maxDescriptionLength) || !validQuoted(c, req.QuotedMsgID) {
		return
	}
	link := firstLink(body)
	if link == "" {
		abort(c, http.StatusUnprocessableEntity, "body must contain an http:// or https:// URL")
		return
	}
	p := queue.Link{URL: link, Title: strings.TrimSpace(req.Title), Description: strings.TrimSpace(req.Description),
		QuotedMsgID: req.QuotedMsgID}
	var thumb []byte
	switch {
	case strings.TrimSpace(req.PreviewBase64) != "":
		var err error
		if thumb, err = decodePreview(req.PreviewBase64); err != nil {
			abort(c, http.StatusUnprocessableEntity, "previewBase64 must be a base64 JPEG or PNG image of at most %d bytes: %v",
				maxPreviewBytes, err)
			return
		}
	case p.Title == "":
		title, desc, img := s.fetchPreview(c.Request.Context(), link)
		p.Title, thumb = title, img
		if p.Description == "" {
			p.Description = desc
		}
	}
	s.enqueueLink(c, to, body, p, thumb)
}

// enqueueLink stores the thumbnail (if any) in the media directory and queues the link; if the
// link cannot be queued the thumbnail goes too.
func (s *Server) enqueueLink(c *gin.Context, to chat.ID, body string, p queue.Link, thumb []byte) {
	var undo func()
	if len(thumb) > 0 {
		rel, err := s.opts.Media.Save(media.Outgoing, "preview.jpg", thumb)
		if err != nil {
			s.log.Error("storing a link preview", "error", err)
			abort(c, http.StatusServiceUnavailable, "could not store the link preview")
			return
		}
		p.Preview = rel
		undo = func() { _ = s.opts.Media.Remove(rel) }
	}
	s.enqueue(c, store.NewItem{Chat: to, Body: body, Payload: p}, undo)
}

type sendPTTRequest struct {
	ChatID      flexString `json:"chatId"`
	Phone       flexString `json:"phone"`
	Audio       string     `json:"audio"`
	Body        string     `json:"body"` // taken as audio when audio is empty
	QuotedMsgID string     `json:"quotedMsgId"`
}

// sendPTT queues a voice note: Ogg/Opus audio by URL, data URI or multipart file (field audio,
// file or body), received like a /sendFile file. Anything else is refused: there is no converter
// on the instance, and phones play voice notes only as Opus in Ogg.
func (s *Server) sendPTT(c *gin.Context) {
	release, ok := s.acquireFileIntake(c)
	if !ok {
		return
	}
	defer release()
	req, file, ok := s.readSendPTT(c)
	if !ok {
		return
	}
	if file != nil {
		defer file.in.Discard()
	}
	to, ok := resolveChat(c, string(req.ChatID), string(req.Phone))
	if !ok || !validQuoted(c, req.QuotedMsgID) {
		return
	}
	if file == nil {
		audio := strings.TrimSpace(req.Audio)
		if audio == "" {
			audio = strings.TrimSpace(req.Body)
		}
		if audio == "" {
			abort(c, http.StatusBadRequest, "audio is required: an http(s) URL, a data URI or a multipart file field")
			return
		}
		if file, ok = s.fileFromBody(c, sendFileRequest{Body: audio, Filename: "voice.ogg"}); !ok {
			return
		}
		defer file.in.Discard()
	}
	if !isOggOpus(file.Head) {
		abort(c, http.StatusUnprocessableEntity, "audio must be OGG/Opus; convert with: ffmpeg -i in -c:a libopus out.ogg (this file is %s)", file.MIME)
		return
	}
	rel, err := file.in.Commit(media.Outgoing, file.Name)
	if err != nil {
		s.abortFileStore(c, err, "file")
		return
	}
	item := store.NewItem{Chat: to, Body: file.Name, Payload: queue.File{File: rel, FileName: file.Name, MimeType: pttMIME,
		MediaType: chat.TypePTT, Size: int(file.Size), QuotedMsgID: req.QuotedMsgID}}
	s.enqueue(c, item, func() { _ = s.opts.Media.Remove(rel) })
}

// readSendPTT reads a JSON / form body, or a multipart form whose file goes to an intake.
func (s *Server) readSendPTT(c *gin.Context) (sendPTTRequest, *pendingFile, bool) {
	var req sendPTTRequest
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if mt != "multipart/form-data" {
		return req, nil, bind(c, &req)
	}
	values, file, ok := s.multipartForm(c)
	if !ok {
		return req, nil, false
	}
	req = sendPTTRequest{ChatID: flexString(values.Get("chatId")), Phone: flexString(values.Get("phone")),
		Audio: values.Get("audio"), Body: values.Get("body"), QuotedMsgID: values.Get("quotedMsgId")}
	return req, file.pending(), true
}

// isOggOpus reports whether head starts an Ogg stream whose first packet is an Opus header: the
// page magic "OggS", then, after the page's segment table, "OpusHead".
func isOggOpus(head []byte) bool {
	const pageHeader = 27
	if len(head) < pageHeader || string(head[:4]) != "OggS" {
		return false
	}
	start := pageHeader + int(head[26])
	return len(head) >= start+8 && string(head[start:start+8]) == "OpusHead"
}
