package sandbox

import (
	"slices"
	"time"
	"unicode/utf8"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// Limits WhatsApp puts on group texts.
const (
	maxSubjectLength     = 100
	maxDescriptionLength = 2048
)

// isAdmin reports whether phone is the creator (super admin) or a promoted admin.
func (g *group) isAdmin(phone string) bool {
	return phone == g.Creator || slices.Contains(g.Admins, phone)
}

// drop removes phone from the members and admins.
func (g *group) drop(phone string) {
	g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == phone })
	g.Admins = slices.DeleteFunc(g.Admins, func(m string) bool { return m == phone })
}

// groupOp serves the IQs sent to one group: participant changes, subject, description and the
// invite code. Call with s.mu held.
func (s *Server) groupOp(c *conn, node *waBinary.Node, to types.JID, child waBinary.Node) {
	g := s.groups[to.User]
	actor := c.dev.acct
	switch {
	case g == nil:
		replyError(c, node, 404, "item-not-found")
		return
	case !g.has(actor.Phone):
		replyError(c, node, 403, "forbidden")
		return
	}
	switch child.Tag {
	case "add", "remove", "promote", "demote":
		if !g.isAdmin(actor.Phone) {
			replyError(c, node, 403, "forbidden")
			return
		}
		s.changeParticipants(c, node, g, child)
	case "subject":
		s.setSubject(c, node, g, child)
	case "description":
		s.setDescription(c, node, g, child)
	case "invite":
		if !g.isAdmin(actor.Phone) {
			replyError(c, node, 401, "not-authorized")
			return
		}
		if g.InviteCode == "" || attrString(node.Attrs["type"]) == "set" {
			g.InviteCode = randomID(11)
			s.dirty = true
		}
		reply(c, node, waBinary.Node{Tag: "invite", Attrs: waBinary.Attrs{"code": g.InviteCode}})
	default:
		replyError(c, node, 501, "feature-not-implemented")
	}
}

// participantNode names an account in a group change, by LID with its phone number.
func participantNode(a *account) waBinary.Node {
	return waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": a.lid(), "phone_number": a.pn()}}
}

// changeParticipants adds, removes, promotes or demotes each participant of the request, answers
// each with its result (an error code for those it could not change) and announces the change.
// Call with s.mu held.
func (s *Server) changeParticipants(c *conn, node *waBinary.Node, g *group, change waBinary.Node) {
	action := change.Tag
	var results, changed []waBinary.Node
	var removed []string
	for _, p := range change.GetChildrenByTag("participant") {
		jid, _ := p.Attrs["jid"].(types.JID)
		a := s.accountByJID(jid)
		if a == nil {
			results = append(results, waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": jid, "error": 404}})
			continue
		}
		res := participantNode(a)
		code, did := applyParticipant(g, action, c.dev.acct.Phone, a.Phone)
		if code != 0 {
			res.Attrs["error"] = code
		}
		if did {
			changed = append(changed, participantNode(a))
			if action == "remove" {
				removed = append(removed, a.Phone)
			}
		}
		results = append(results, res)
	}
	reply(c, node, waBinary.Node{Tag: action, Content: results})
	if len(changed) > 0 {
		s.dirty = true
		s.notifyGroup(g, c.dev, removed, waBinary.Node{Tag: action, Content: changed})
	}
}

// applyParticipant changes one member; it returns an error code for the participant (0: fine)
// and whether anything changed.
func applyParticipant(g *group, action, actor, phone string) (int, bool) {
	member := g.has(phone)
	switch {
	case action == "add" && member:
		return 409, false
	case action == "add":
		g.Members = append(g.Members, phone)
		return 0, true
	case !member:
		return 404, false
	case phone == g.Creator && action != "promote" && actor != g.Creator:
		return 403, false // the super admin is removed or demoted by nobody else
	case action == "remove":
		g.drop(phone)
		return 0, true
	case action == "promote" && g.isAdmin(phone), action == "demote" && !slices.Contains(g.Admins, phone):
		return 0, false
	case action == "promote":
		g.Admins = append(g.Admins, phone)
		return 0, true
	default: // demote
		g.Admins = slices.DeleteFunc(g.Admins, func(m string) bool { return m == phone })
		return 0, true
	}
}

// setSubject renames a group. Any member may. Call with s.mu held.
func (s *Server) setSubject(c *conn, node *waBinary.Node, g *group, child waBinary.Node) {
	raw, _ := child.Content.([]byte)
	subject := string(raw)
	switch n := utf8.RuneCountInString(subject); {
	case n == 0:
		replyError(c, node, 400, "bad-request")
		return
	case n > maxSubjectLength:
		replyError(c, node, 406, "not-acceptable")
		return
	}
	actor := c.dev.acct
	g.Subject, g.SubjectAt, g.SubjectBy = subject, time.Now(), actor.Phone
	s.dirty = true
	reply(c, node)
	s.notifyGroup(g, c.dev, nil, waBinary.Node{Tag: "subject", Attrs: waBinary.Attrs{
		"subject": subject, "s_t": g.SubjectAt.Unix(), "s_o": actor.lid(), "s_o_pn": actor.pn(),
	}})
}

// setDescription sets or deletes a group's description. Any member may; prev must name the
// current description, as WhatsApp checks. Call with s.mu held.
func (s *Server) setDescription(c *conn, node *waBinary.Node, g *group, child waBinary.Node) {
	id := attrString(child.Attrs["id"])
	if id == "" {
		replyError(c, node, 400, "bad-request")
		return
	}
	if g.DescID != "" && attrString(child.Attrs["prev"]) != g.DescID {
		replyError(c, node, 409, "conflict")
		return
	}
	body, _ := child.GetChildByTag("body").Content.([]byte)
	deleted := attrString(child.Attrs["delete"]) == "true" || len(body) == 0
	if utf8.RuneCount(body) > maxDescriptionLength {
		replyError(c, node, 406, "not-acceptable")
		return
	}
	g.Description, g.DescID, g.DescAt, g.DescBy = string(body), id, time.Now(), c.dev.acct.Phone
	s.dirty = true
	reply(c, node)
	change := waBinary.Node{Tag: "description", Attrs: waBinary.Attrs{"id": id},
		Content: []waBinary.Node{{Tag: "body", Content: body}}}
	if deleted {
		g.Description = ""
		change.Content = []waBinary.Node{{Tag: "delete"}}
	}
	s.notifyGroup(g, c.dev, nil, change)
}

// descriptionNode is the description in a group's info, if it has one. Call with s.mu held.
func (s *Server) descriptionNode(g *group) (waBinary.Node, bool) {
	if g.Description == "" {
		return waBinary.Node{}, false
	}
	attrs := waBinary.Attrs{"id": g.DescID, "t": g.DescAt.Unix()}
	if by := s.byPhone[g.DescBy]; by != nil {
		attrs["participant"], attrs["participant_pn"] = by.lid(), by.pn()
	}
	return waBinary.Node{Tag: "description", Attrs: attrs,
		Content: []waBinary.Node{{Tag: "body", Content: []byte(g.Description)}}}, true
}

// leaveGroups takes the asking account out of the groups listed. Call with s.mu held.
func (s *Server) leaveGroups(c *conn, node *waBinary.Node, leave waBinary.Node) {
	actor := c.dev.acct
	var left []waBinary.Node
	for _, gn := range leave.GetChildrenByTag("group") {
		jid, _ := gn.Attrs["id"].(types.JID)
		g := s.groups[jid.User]
		switch {
		case g == nil:
			replyError(c, node, 404, "item-not-found")
			return
		case !g.has(actor.Phone):
			replyError(c, node, 403, "forbidden")
			return
		}
		g.drop(actor.Phone)
		s.dirty = true
		left = append(left, waBinary.Node{Tag: "group", Attrs: waBinary.Attrs{"id": g.jid()}})
		s.notifyGroup(g, c.dev, []string{actor.Phone}, waBinary.Node{Tag: "remove",
			Content: []waBinary.Node{participantNode(actor)}})
	}
	reply(c, node, waBinary.Node{Tag: "leave", Content: left})
}

// joinByCode serves invite links on the group server: type get describes the group, type set
// joins it. An unknown code is 406, as WhatsApp answers. Call with s.mu held.
func (s *Server) joinByCode(c *conn, node *waBinary.Node, invite waBinary.Node) {
	code := attrString(invite.Attrs["code"])
	var g *group
	for _, cand := range s.groups {
		if code != "" && cand.InviteCode == code {
			g = cand
		}
	}
	if g == nil {
		replyError(c, node, 406, "not-acceptable")
		return
	}
	if attrString(node.Attrs["type"]) != "set" {
		reply(c, node, s.groupNode(g))
		return
	}
	actor := c.dev.acct
	if !g.has(actor.Phone) {
		g.Members = append(g.Members, actor.Phone)
		s.dirty = true
		s.notifyGroup(g, c.dev, nil, waBinary.Node{Tag: "add", Attrs: waBinary.Attrs{"reason": "invite"},
			Content: []waBinary.Node{participantNode(actor)}})
	}
	reply(c, node, waBinary.Node{Tag: "group", Attrs: waBinary.Attrs{"jid": g.jid()}})
}

// notifyGroup announces a change to every device of the members (and of extra accounts, e.g.
// those just removed) as a w:gp2 notification. The device that made the change hears of it too,
// as WhatsApp's servers tell every participant device, so whatsmeow's cached member list stays
// current there. Call with s.mu held.
func (s *Server) notifyGroup(g *group, by *device, extra []string, change waBinary.Node) {
	actor := by.acct
	seen := map[string]bool{}
	for _, phone := range append(slices.Clone(g.Members), extra...) {
		acct := s.byPhone[phone]
		if acct == nil || seen[phone] {
			continue
		}
		seen[phone] = true
		for _, id := range acct.sortedDevices() {
			if dev := acct.Devices[id]; dev != nil {
				s.deliver(dev, waBinary.Node{Tag: "notification", Attrs: waBinary.Attrs{
					"from": g.jid(), "type": "w:gp2", "id": randomID(8), "t": time.Now().Unix(),
					"participant": actor.lid(), "participant_pn": actor.pn(),
					"notify": actor.Name, "addressing_mode": "lid",
				}, Content: []waBinary.Node{change}})
			}
		}
	}
}
