package sandbox

import (
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// iqGroups serves group creation, group metadata and the list of joined groups.
func (s *Server) iqGroups(c *conn, node *waBinary.Node) {
	to, _ := node.Attrs["to"].(types.JID)
	children := node.GetChildren()
	if len(children) == 0 {
		replyError(c, node, 400, "bad-request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch child := children[0]; {
	case to == types.GroupServerJID && child.Tag == "create":
		s.createGroup(c, node, child)
	case to == types.GroupServerJID && child.Tag == "participating":
		var groups []waBinary.Node
		for _, g := range s.groups {
			if g.has(c.dev.acct.Phone) {
				groups = append(groups, s.groupNode(g))
			}
		}
		reply(c, node, waBinary.Node{Tag: "groups", Content: groups})
	case to.Server == types.GroupServer && child.Tag == "query":
		g := s.groups[to.User]
		switch {
		case g == nil:
			replyError(c, node, 404, "item-not-found")
		case !g.has(c.dev.acct.Phone):
			replyError(c, node, 403, "forbidden")
		default:
			reply(c, node, s.groupNode(g))
		}
	case to == types.GroupServerJID && child.Tag == "leave":
		s.leaveGroups(c, node, child)
	case to == types.GroupServerJID && child.Tag == "invite":
		s.joinByCode(c, node, child)
	case to.Server == types.GroupServer:
		s.groupOp(c, node, to, child)
	default:
		replyError(c, node, 501, "feature-not-implemented")
	}
}

// createGroup makes a group of the creator and every known participant and tells the members.
// Call with s.mu held.
func (s *Server) createGroup(c *conn, req *waBinary.Node, create waBinary.Node) {
	creator := c.dev
	g := &group{ID: "120363" + randomDigits(12), Subject: attrString(create.Attrs["subject"]),
		Creator: creator.acct.Phone, Created: time.Now(), Members: []string{creator.acct.Phone}}
	for _, p := range create.GetChildrenByTag("participant") {
		jid, _ := p.Attrs["jid"].(types.JID)
		if a := s.accountByJID(jid); a != nil && !g.has(a.Phone) {
			g.Members = append(g.Members, a.Phone)
		}
	}
	s.groups[g.ID] = g
	s.dirty = true
	info := s.groupNode(g)
	reply(c, req, info)
	for _, phone := range g.Members {
		acct := s.byPhone[phone]
		for _, id := range acct.sortedDevices() {
			if dev := acct.Devices[id]; dev != creator {
				s.deliver(dev, waBinary.Node{Tag: "notification", Attrs: waBinary.Attrs{
					"from": g.jid(), "type": "w:gp2", "id": randomID(8), "t": time.Now().Unix(),
					"participant": creator.acct.lid(), "participant_pn": creator.acct.pn(),
					"notify": creator.acct.Name, "addressing_mode": "lid",
				}, Content: []waBinary.Node{{Tag: "create", Attrs: waBinary.Attrs{"reason": "new"}, Content: []waBinary.Node{info}}}})
			}
		}
	}
}

// groupNode describes a group as WhatsApp does, members by LID with their phone numbers.
// Call with s.mu held.
func (s *Server) groupNode(g *group) waBinary.Node {
	creator := s.byPhone[g.Creator]
	attrs := waBinary.Attrs{
		"id": g.ID, "subject": g.Subject, "creation": g.Created.Unix(), "s_t": g.Created.Unix(),
		"addressing_mode": "lid", "size": len(g.Members),
	}
	if creator != nil {
		attrs["creator"], attrs["creator_pn"], attrs["s_o"] = creator.lid(), creator.pn(), creator.lid()
	}
	if by := s.byPhone[g.SubjectBy]; by != nil && !g.SubjectAt.IsZero() {
		attrs["s_t"], attrs["s_o"], attrs["s_o_pn"] = g.SubjectAt.Unix(), by.lid(), by.pn()
	}
	var members []waBinary.Node
	for _, phone := range g.Members {
		a := s.byPhone[phone]
		if a == nil {
			continue
		}
		pa := waBinary.Attrs{"jid": a.lid(), "phone_number": a.pn()}
		if phone == g.Creator {
			pa["type"] = "superadmin"
		} else if g.isAdmin(phone) {
			pa["type"] = "admin"
		}
		members = append(members, waBinary.Node{Tag: "participant", Attrs: pa})
	}
	if desc, ok := s.descriptionNode(g); ok {
		members = append(members, desc)
	}
	return waBinary.Node{Tag: "group", Attrs: attrs, Content: members}
}
