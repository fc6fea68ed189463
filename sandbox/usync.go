package sandbox

import (
	"strings"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// iqUsync answers user sync queries: device lists, LIDs, and "is this number on WhatsApp".
func (s *Server) iqUsync(c *conn, node *waBinary.Node) {
	us, ok := node.GetOptionalChildByTag("usync")
	if !ok {
		replyError(c, node, 400, "bad-request")
		return
	}
	var wanted []string
	for _, q := range childrenOf(&us, "query") {
		wanted = append(wanted, q.Tag)
	}
	s.mu.Lock()
	asker := c.dev.acct
	var users []waBinary.Node
	for _, u := range childrenOf(&us, "list") {
		if u.Tag == "user" {
			users = append(users, s.usyncUser(asker, u, wanted))
		}
	}
	s.mu.Unlock()
	reply(c, node, waBinary.Node{Tag: "usync", Attrs: us.Attrs, Content: []waBinary.Node{
		{Tag: "result"}, {Tag: "list", Content: users},
	}})
}

// usyncUser answers one <user> of a usync query. Call with s.mu held.
func (s *Server) usyncUser(asker *account, u waBinary.Node, wanted []string) waBinary.Node {
	jid, hasJID := u.Attrs["jid"].(types.JID)
	var query []byte
	var acct *account
	if hasJID {
		acct = s.accountByJID(jid)
	} else if contact, ok := u.GetOptionalChildByTag("contact"); ok {
		query = contentBytes(contact.Content)
		digits := strings.TrimPrefix(strings.SplitN(string(query), "@", 2)[0], "+")
		acct = s.byPhone[digits]
		jid = types.NewJID(digits, types.DefaultUserServer)
	}
	out := waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}}
	var children []waBinary.Node
	for _, w := range wanted {
		switch w {
		case "contact":
			typ := "out"
			if acct != nil {
				typ = "in"
				out.Attrs["jid"], out.Attrs["pn_jid"] = acct.lid(), acct.pn()
			}
			children = append(children, waBinary.Node{Tag: "contact", Attrs: waBinary.Attrs{"type": typ}, Content: query})
		case "devices":
			children = append(children, s.deviceList(asker, acct))
		case "lid":
			if acct != nil {
				children = append(children, waBinary.Node{Tag: "lid", Attrs: waBinary.Attrs{"val": acct.lid()}})
			}
		case "status":
			children = append(children, waBinary.Node{Tag: "status", Content: []byte("Hey there! I am using the sandbox.")})
		case "picture", "business", "disappearing_mode":
			children = append(children, waBinary.Node{Tag: w})
		}
	}
	if len(children) > 0 {
		out.Content = children
	}
	return out
}

// deviceList lists an account's devices and remembers that asker cares about changes to it.
func (s *Server) deviceList(asker, acct *account) waBinary.Node {
	var list []waBinary.Node
	if acct != nil {
		if acct.watchers == nil {
			acct.watchers = map[*account]bool{}
		}
		acct.watchers[asker] = true
		for _, id := range acct.sortedDevices() {
			list = append(list, waBinary.Node{Tag: "device", Attrs: waBinary.Attrs{"id": int(id)}})
		}
	}
	return waBinary.Node{Tag: "devices", Content: []waBinary.Node{{Tag: "device-list", Content: list}}}
}

// accountByJID finds the account of a phone-number or LID JID. Call with s.mu held.
func (s *Server) accountByJID(jid types.JID) *account {
	switch jid.Server {
	case types.DefaultUserServer, types.LegacyUserServer:
		return s.byPhone[jid.User]
	case types.HiddenUserServer:
		return s.byLID[jid.User]
	}
	return nil
}

// deviceByJID finds a device by its phone-number or LID device JID. Call with s.mu held.
func (s *Server) deviceByJID(jid types.JID) *device {
	if a := s.accountByJID(jid); a != nil {
		return a.Devices[jid.Device]
	}
	return nil
}

func contentBytes(v any) []byte {
	switch x := v.(type) {
	case []byte:
		return x
	case string:
		return []byte(x)
	}
	return nil
}
