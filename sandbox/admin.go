package sandbox

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
)

// Limits of the admin API.
const (
	maxAdminBody = 24 << 20 // a message may carry a base64 attachment
	adminTimeout = 60 * time.Second
	scanTimeout  = 20 * time.Second
)

// adminRoutes mounts the admin REST API under /sandbox/.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /sandbox/info", s.handleInfo)
	mux.HandleFunc("POST /sandbox/phones", s.handleCreatePhone)
	mux.HandleFunc("GET /sandbox/phones", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"phones": s.Phones()})
	})
	mux.HandleFunc("GET /sandbox/phones/{phone}", s.withPhone(func(w http.ResponseWriter, _ *http.Request, p *Phone) {
		writeJSON(w, http.StatusOK, s.phoneInfo(p))
	}))
	mux.HandleFunc("POST /sandbox/phones/{phone}/scan", s.withPhone(s.handleScan))
	mux.HandleFunc("POST /sandbox/phones/{phone}/link-code", s.withPhone(s.handleLinkCode))
	mux.HandleFunc("POST /sandbox/phones/{phone}/messages", s.withPhone(s.handleSend))
	mux.HandleFunc("GET /sandbox/phones/{phone}/messages", s.withPhone(func(w http.ResponseWriter, _ *http.Request, p *Phone) {
		writeJSON(w, http.StatusOK, map[string]any{"messages": p.Messages()})
	}))
	mux.HandleFunc("POST /sandbox/phones/{phone}/read", s.withPhone(s.handleRead))
	mux.HandleFunc("POST /sandbox/phones/{phone}/groups", s.withPhone(s.handleCreateGroup))
	mux.HandleFunc("GET /sandbox/phones/{phone}/groups", s.withPhone(func(w http.ResponseWriter, _ *http.Request, p *Phone) {
		writeJSON(w, http.StatusOK, map[string]any{"groups": p.Groups()})
	}))
	mux.HandleFunc("GET /sandbox/phones/{phone}/presence", s.withPhone(func(w http.ResponseWriter, _ *http.Request, p *Phone) {
		writeJSON(w, http.StatusOK, p.Presence())
	}))
	mux.HandleFunc("POST /sandbox/phones/{phone}/presence", s.withPhone(s.handlePresenceUpdate))
	mux.HandleFunc("POST /sandbox/faults", s.handleFault)
	s.groupAdminRoutes(mux)
}

func (s *Server) handleInfo(w http.ResponseWriter, _ *http.Request) {
	pub := s.RootPublicKey()
	writeJSON(w, http.StatusOK, map[string]any{
		"rootPublicKey": base64.StdEncoding.EncodeToString(pub[:]), "version": Version, "url": s.URL(),
	})
}

func (s *Server) handleCreatePhone(w http.ResponseWriter, r *http.Request) {
	var req struct{ Phone, Name string }
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	info, err := s.CreatePhone(ctx, req.Phone, req.Name)
	switch {
	case errors.Is(err, ErrPhoneExists):
		writeError(w, http.StatusConflict, err)
	case errors.Is(err, ErrBadPhone):
		writeError(w, http.StatusBadRequest, err)
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusCreated, info)
	}
}

func (s *Server) handleScan(w http.ResponseWriter, r *http.Request, p *Phone) {
	var req struct{ QR string }
	if !readJSON(w, r, &req) {
		return
	}
	jid, err := s.linkDevice(p.acct, p.cli.Store.IdentityKey, "android", req.QR, scanTimeout)
	switch {
	case errors.Is(err, ErrQRInvalid):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, ErrQRUnknown):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		writeError(w, http.StatusBadGateway, err)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"device": jid})
	}
}

func (s *Server) handleLinkCode(w http.ResponseWriter, r *http.Request, p *Phone) {
	var req struct{ Code string }
	if !readJSON(w, r, &req) {
		return
	}
	jid, err := s.linkByCode(p.acct, p.cli.Store.IdentityKey, "android", req.Code, scanTimeout)
	switch {
	case errors.Is(err, ErrQRInvalid), errors.Is(err, ErrWrongCode):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, ErrNoCodePairing):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		writeError(w, http.StatusBadGateway, err)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"device": jid})
	}
}

// sendRequest is the body of POST /sandbox/phones/{phone}/messages: a text, an attachment, a
// location, a contact card, or one of the kinds named by type.
type sendRequest struct {
	To    string `json:"to"`
	Media *struct {
		Data     string `json:"data"`
		Mimetype string `json:"mimetype"`
		FileName string `json:"fileName"`
		Kind     string `json:"kind"`
	} `json:"media"`
	Location *Location `json:"location"`
	Contact  *Contact  `json:"contact"`
	// State is the typing state of type "typing".
	State string `json:"state"`
	// Kind holds type, body (the text, also of an edit or reply) and the fields of the other kinds.
	Kind
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request, p *Phone) {
	var req sendRequest
	if !readJSON(w, r, &req) {
		return
	}
	if _, err := ParseRecipient(req.To); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch req.Type {
	case "", "text":
	case "typing":
		s.sendTyping(w, r, p, req)
		return
	case "call":
		s.sendCall(w, r, p, req.To)
		return
	default:
		s.sendKind(w, r, p, req)
		return
	}
	if req.Location != nil || req.Contact != nil {
		s.sendShared(w, r, p, req.To, req.Location, req.Contact)
		return
	}
	var media *OutgoingMedia
	if req.Media != nil {
		data, err := base64.StdEncoding.DecodeString(req.Media.Data)
		if err != nil || len(data) == 0 {
			writeError(w, http.StatusBadRequest, errors.New("media.data must be non-empty base64"))
			return
		}
		media = &OutgoingMedia{Data: data, Mimetype: strings.TrimSpace(req.Media.Mimetype), FileName: req.Media.FileName, Kind: req.Media.Kind}
		if media.Mimetype == "" {
			media.Mimetype = http.DetectContentType(data)
		}
	} else if req.Body == "" {
		writeError(w, http.StatusBadRequest, errors.New("body is required"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	m, err := p.Send(ctx, req.To, req.Body, media)
	if err != nil {
		writeSendError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// sendKind sends a poll, reaction, poll_vote, edit, revoke or reply.
func (s *Server) sendKind(w http.ResponseWriter, r *http.Request, p *Phone, req sendRequest) {
	if req.Media != nil || req.Location != nil || req.Contact != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("type %q takes no media, location or contact", req.Type))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	m, err := p.SendKind(ctx, req.To, req.Kind)
	if err != nil {
		writeSendError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) sendTyping(w http.ResponseWriter, r *http.Request, p *Phone, req sendRequest) {
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	if err := p.SendTyping(ctx, req.To, req.State); err != nil {
		writeSendError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"to": req.To, "state": req.State})
}

// writeSendError answers 400 for a request the phone cannot act on, 404 for an unknown target
// message and 502 when sending itself failed.
func writeSendError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, err)
	case errors.Is(err, ErrUnknownTarget):
		writeError(w, http.StatusNotFound, err)
	default:
		writeError(w, http.StatusBadGateway, err)
	}
}

// handlePresenceUpdate sets the phone online or offline and subscribes it to contacts' presence.
func (s *Server) handlePresenceUpdate(w http.ResponseWriter, r *http.Request, p *Phone) {
	var req struct {
		State     string   `json:"state"`
		Subscribe []string `json:"subscribe"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.State != "" && req.State != "available" && req.State != "unavailable" {
		writeError(w, http.StatusBadRequest, errors.New("state must be available or unavailable"))
		return
	}
	if req.State == "" && len(req.Subscribe) == 0 {
		writeError(w, http.StatusBadRequest, errors.New("give a state, contacts to subscribe to, or both"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	if req.State != "" {
		if err := p.SetPresence(ctx, req.State == "available"); err != nil {
			writeSendError(w, err)
			return
		}
	}
	for _, c := range req.Subscribe {
		if err := p.Subscribe(ctx, c); err != nil {
			writeSendError(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, p.Presence())
}

// sendShared sends a location or a contact card from the phone.
func (s *Server) sendShared(w http.ResponseWriter, r *http.Request, p *Phone, to string, loc *Location, contact *Contact) {
	var msg *waE2E.Message
	switch {
	case loc != nil && contact != nil:
		writeError(w, http.StatusBadRequest, errors.New("send a location or a contact, not both"))
		return
	case loc != nil:
		if loc.Lat < -90 || loc.Lat > 90 || loc.Lng < -180 || loc.Lng > 180 {
			writeError(w, http.StatusBadRequest, errors.New("location lat must be within ±90 and lng within ±180"))
			return
		}
		msg = &waE2E.Message{LocationMessage: &waE2E.LocationMessage{DegreesLatitude: &loc.Lat, DegreesLongitude: &loc.Lng,
			Name: &loc.Name, Address: &loc.Address}}
	default:
		if !strings.HasPrefix(contact.VCard, "BEGIN:VCARD") {
			writeError(w, http.StatusBadRequest, errors.New("contact.vcard must be a vCard (BEGIN:VCARD…)"))
			return
		}
		msg = &waE2E.Message{ContactMessage: &waE2E.ContactMessage{DisplayName: &contact.Name, Vcard: &contact.VCard}}
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	m, err := p.SendMessage(ctx, to, msg)
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) handleRead(w http.ResponseWriter, r *http.Request, p *Phone) {
	var req struct{ IDs []string }
	if !readJSON(w, r, &req) {
		return
	}
	if len(req.IDs) == 0 {
		writeError(w, http.StatusBadRequest, errors.New("ids must name at least one message"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	if err := p.MarkRead(ctx, req.IDs); err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"read": req.IDs})
}

func (s *Server) handleCreateGroup(w http.ResponseWriter, r *http.Request, p *Phone) {
	var req struct {
		Name    string   `json:"name"`
		Members []string `json:"members"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Name) == "" || len(req.Members) == 0 {
		writeError(w, http.StatusBadRequest, errors.New("name and members are required"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	gid, err := p.CreateGroup(ctx, req.Name, req.Members)
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"group": gid})
}

func (s *Server) handleFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if !readJSON(w, r, &f) {
		return
	}
	f.Phone = strings.TrimPrefix(f.Phone, "+")
	devices, err := s.InjectFault(f)
	switch {
	case errors.Is(err, ErrPhoneUnknown):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		writeError(w, http.StatusBadRequest, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"kind": f.Kind, "devices": devices})
	}
}

// withPhone resolves {phone} or answers 404.
func (s *Server) withPhone(h func(http.ResponseWriter, *http.Request, *Phone)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.Phone(r.PathValue("phone"))
		if err != nil {
			writeError(w, http.StatusNotFound, err)
			return
		}
		h(w, r, p)
	}
}

// readJSON decodes a size-limited JSON body, answering 4xx itself when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	// JSON bodies; curl's default form type and text/plain are taken as JSON too (curl -d '{…}').
	switch ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct {
	case "", "application/json", "application/x-www-form-urlencoded", "text/plain":
	default:
		writeError(w, http.StatusUnsupportedMediaType, errors.New("content type must be application/json"))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, errors.New("request body too large"))
		} else {
			writeError(w, http.StatusBadRequest, fmt.Errorf("invalid JSON body: %w", err))
		}
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, errors.New("invalid JSON body: trailing data"))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
