package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// maxGroupEvents is how many group changes a phone remembers.
const maxGroupEvents = 1000

// GroupEvent is a group change a phone was told about (a w:gp2 notification its whatsmeow client
// turned into an event).
type GroupEvent struct {
	Group string `json:"group"`
	// Type is add, remove, promote, demote, subject, description or joined (a group made with
	// the phone in it).
	Type string `json:"type"`
	// Participants are the members concerned, as phone-number JIDs.
	Participants []string  `json:"participants,omitempty"`
	Author       string    `json:"author,omitempty"`
	Subject      string    `json:"subject,omitempty"`
	Description  string    `json:"description,omitempty"`
	Time         time.Time `json:"time"`
}

// ParticipantResult is the server's answer for one participant of a change.
type ParticipantResult struct {
	JID string `json:"jid"`
	// Error is WhatsApp's code for a participant not changed (e.g. 409 already a member), 0 if fine.
	Error int `json:"error,omitempty"`
}

// ErrBadGroupAction is returned for an unknown participant action.
var ErrBadGroupAction = errors.New("action must be add, remove, promote or demote")

var errBadParticipant = errors.New("invalid participant")

func (p *Phone) recordGroupEvent(evt any) {
	var out []GroupEvent
	switch e := evt.(type) {
	case *events.JoinedGroup:
		out = append(out, GroupEvent{Group: e.JID.String(), Type: "joined", Subject: e.Name, Time: time.Now()})
	case *events.GroupInfo:
		base := GroupEvent{Group: e.JID.String(), Time: e.Timestamp}
		if e.Sender != nil {
			base.Author = p.pnString(*e.Sender)
		}
		for typ, list := range map[string][]types.JID{"add": e.Join, "remove": e.Leave, "promote": e.Promote, "demote": e.Demote} {
			if len(list) > 0 {
				ev := base
				ev.Type = typ
				for _, j := range list {
					ev.Participants = append(ev.Participants, p.pnString(j))
				}
				out = append(out, ev)
			}
		}
		if e.Name != nil {
			ev := base
			ev.Type, ev.Subject = "subject", e.Name.Name
			out = append(out, ev)
		}
		if e.Topic != nil {
			ev := base
			ev.Type, ev.Description = "description", e.Topic.Topic
			out = append(out, ev)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.groupLog = append(p.groupLog, out...)
	if over := len(p.groupLog) - maxGroupEvents; over > 0 {
		p.groupLog = slices.Clone(p.groupLog[over:])
	}
}

// GroupEvents lists the group changes the phone was told about, oldest first.
func (p *Phone) GroupEvents() []GroupEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]GroupEvent{}, p.groupLog...)
}

// parseGroup accepts a group as <digits>@g.us or bare digits.
func parseGroup(s string) (types.JID, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "@"+types.GroupServer)
	if s == "" || strings.ContainsAny(s, "@:") {
		return types.JID{}, fmt.Errorf("group %q: want <digits>@g.us", s)
	}
	return types.NewJID(s, types.GroupServer), nil
}

// ChangeParticipants adds, removes, promotes or demotes members of a group from the phone.
func (p *Phone) ChangeParticipants(ctx context.Context, group types.JID, action string, phones []string) ([]ParticipantResult, error) {
	switch action {
	case "add", "remove", "promote", "demote":
	default:
		return nil, ErrBadGroupAction
	}
	var jids []types.JID
	for _, ph := range phones {
		jid, err := ParseRecipient(ph)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadParticipant, err)
		}
		jids = append(jids, jid)
	}
	res, err := p.cli.UpdateGroupParticipants(ctx, group, jids, whatsmeow.ParticipantChange(action))
	if err != nil {
		return nil, fmt.Errorf("%s participants: %w", action, err)
	}
	out := []ParticipantResult{}
	for _, r := range res {
		jid := r.PhoneNumber
		if jid.IsEmpty() {
			jid = r.JID
		}
		out = append(out, ParticipantResult{JID: p.pnString(jid), Error: r.Error})
	}
	return out, nil
}

// groupAdminRoutes mounts the phones' group actions on the admin API.
func (s *Server) groupAdminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /sandbox/phones/{phone}/group-events", s.withPhone(func(w http.ResponseWriter, _ *http.Request, p *Phone) {
		writeJSON(w, http.StatusOK, map[string]any{"events": p.GroupEvents()})
	}))
	mux.HandleFunc("POST /sandbox/phones/{phone}/groups/join", s.withPhone(s.handleJoinGroup))
	mux.HandleFunc("POST /sandbox/phones/{phone}/groups/{group}/participants", s.withGroup(s.handleParticipants))
	mux.HandleFunc("POST /sandbox/phones/{phone}/groups/{group}/subject", s.withGroup(s.handleGroupText))
	mux.HandleFunc("POST /sandbox/phones/{phone}/groups/{group}/description", s.withGroup(s.handleGroupText))
	mux.HandleFunc("POST /sandbox/phones/{phone}/groups/{group}/leave", s.withGroup(
		func(w http.ResponseWriter, r *http.Request, p *Phone, g types.JID) {
			ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
			defer cancel()
			if err := p.cli.LeaveGroup(ctx, g); err != nil {
				writeGroupError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"left": g.String()})
		}))
	mux.HandleFunc("POST /sandbox/phones/{phone}/groups/{group}/invite", s.withGroup(
		func(w http.ResponseWriter, r *http.Request, p *Phone, g types.JID) {
			ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
			defer cancel()
			link, err := p.cli.GetGroupInviteLink(ctx, g, r.URL.Query().Get("reset") == "true")
			if err != nil {
				writeGroupError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"link": link,
				"code": strings.TrimPrefix(link, whatsmeow.InviteLinkPrefix)})
		}))
}

// withGroup resolves {phone} and {group} or answers 404 / 400.
func (s *Server) withGroup(h func(http.ResponseWriter, *http.Request, *Phone, types.JID)) http.HandlerFunc {
	return s.withPhone(func(w http.ResponseWriter, r *http.Request, p *Phone) {
		g, err := parseGroup(r.PathValue("group"))
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		h(w, r, p, g)
	})
}

func (s *Server) handleParticipants(w http.ResponseWriter, r *http.Request, p *Phone, g types.JID) {
	var req struct {
		Action string   `json:"action"`
		Phones []string `json:"phones"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if len(req.Phones) == 0 {
		writeError(w, http.StatusBadRequest, errors.New("phones is required"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	res, err := p.ChangeParticipants(ctx, g, req.Action, req.Phones)
	if errors.Is(err, ErrBadGroupAction) || errors.Is(err, errBadParticipant) {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err != nil {
		writeGroupError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"participants": res})
}

// handleGroupText sets the subject or the description, by the last element of the path.
func (s *Server) handleGroupText(w http.ResponseWriter, r *http.Request, p *Phone, g types.JID) {
	var req struct {
		Subject     string `json:"subject"`
		Description string `json:"description"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	var err error
	if strings.HasSuffix(r.URL.Path, "/subject") {
		err = p.cli.SetGroupName(ctx, g, req.Subject)
	} else {
		err = p.cli.SetGroupTopic(ctx, g, "", "", req.Description)
	}
	if err != nil {
		writeGroupError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"group": g.String()})
}

func (s *Server) handleJoinGroup(w http.ResponseWriter, r *http.Request, p *Phone) {
	var req struct {
		Code string `json:"code"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Code) == "" {
		writeError(w, http.StatusBadRequest, errors.New("code is required"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	g, err := p.cli.JoinGroupWithLink(ctx, strings.TrimSpace(req.Code))
	if err != nil {
		writeGroupError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"group": g.String()})
}

// writeGroupError answers with the status the server's IQ error carries.
func writeGroupError(w http.ResponseWriter, err error) {
	var iqErr *whatsmeow.IQError
	if errors.As(err, &iqErr) && iqErr.Code >= 400 && iqErr.Code < 600 {
		writeError(w, iqErr.Code, err)
		return
	}
	writeError(w, http.StatusBadGateway, err)
}
