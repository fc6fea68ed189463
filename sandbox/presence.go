package sandbox

import (
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// presenceState is what the server knows of one account's presence. It lives in memory only:
// presence and subscriptions belong to connections, and a restarted network starts offline.
type presenceState struct {
	available map[*conn]bool      // connections that said "available" and are still open
	lastSeen  time.Time           // when the account was last online
	subs      map[*conn]types.JID // who subscribed, and by which JID (its updates use that form)
}

// presenceOf returns the account's presence state, creating it. Call with s.mu held.
func (s *Server) presenceOf(a *account) *presenceState {
	if s.presence == nil {
		s.presence = map[*account]*presenceState{}
	}
	ps := s.presence[a]
	if ps == nil {
		ps = &presenceState{available: map[*conn]bool{}, subs: map[*conn]types.JID{}}
		s.presence[a] = ps
	}
	return ps
}

func (ps *presenceState) online() bool { return len(ps.available) > 0 }

// routeChatState forwards a typing, recording or paused state to the live devices of the chat's
// other side: the recipient's devices, or every other member's devices in a group. Chat states
// are ephemeral: nothing is queued for offline devices and no ack is expected.
func (s *Server) routeChatState(c *conn, node *waBinary.Node) {
	to, ok := node.Attrs["to"].(types.JID)
	if !ok || len(node.GetChildren()) != 1 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sender := c.dev
	if to.Server == types.GroupServer {
		g := s.groups[to.User]
		if g == nil || !g.has(sender.acct.Phone) {
			return
		}
		attrs := waBinary.Attrs{"from": to, "participant": sender.acct.lid(), "participant_pn": sender.acct.pn(), "addressing_mode": "lid"}
		for _, phone := range g.Members {
			if a := s.byPhone[phone]; a != nil && a != sender.acct {
				sendLive(a, waBinary.Node{Tag: "chatstate", Attrs: attrs, Content: node.GetChildren()})
			}
		}
		return
	}
	recipient := s.accountByJID(to)
	if recipient == nil || recipient == sender.acct {
		return
	}
	attrs := waBinary.Attrs{}
	if to.Server == types.HiddenUserServer {
		attrs["from"], attrs["sender_pn"] = sender.acct.lid(), sender.acct.pn()
	} else {
		attrs["from"], attrs["sender_lid"] = sender.acct.pn(), sender.acct.lid()
	}
	sendLive(recipient, waBinary.Node{Tag: "chatstate", Attrs: attrs, Content: node.GetChildren()})
}

// sendLive sends a node to every connected device of the account, queueing nothing.
// Call with s.mu held.
func sendLive(a *account, node waBinary.Node) {
	for _, id := range a.sortedDevices() {
		if d := a.Devices[id]; d.conn != nil {
			d.conn.send(node)
		}
	}
}

// handlePresence serves <presence>: "available"/"unavailable" from a device sets its account's
// presence (an account is online while any of its connections says so), "subscribe" asks for a
// contact's presence, answered at once and on every change after.
func (s *Server) handlePresence(c *conn, node *waBinary.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch attrString(node.Attrs["type"]) {
	case "available":
		s.learnPushName(c, node)
		ps := s.presenceOf(c.dev.acct)
		was := ps.online()
		ps.available[c] = true
		if !was {
			s.announcePresence(c.dev.acct)
		}
	case "unavailable":
		s.dropAvailable(c)
	case "subscribe":
		to, ok := node.Attrs["to"].(types.JID)
		if !ok {
			return
		}
		target := s.accountByJID(to)
		if target == nil || target == c.dev.acct {
			return
		}
		ps := s.presenceOf(target)
		ps.subs[c] = to.ToNonAD()
		c.send(presenceNode(ps, to.ToNonAD()))
	}
}

// presenceGone forgets a closed connection's presence and subscriptions. Call with s.mu held.
func (s *Server) presenceGone(c *conn) {
	if c.dev == nil {
		return
	}
	s.dropAvailable(c)
	for _, ps := range s.presence {
		delete(ps.subs, c)
	}
}

// dropAvailable withdraws a connection's "available"; the account goes offline with its last
// one. Call with s.mu held.
func (s *Server) dropAvailable(c *conn) {
	ps := s.presence[c.dev.acct]
	if ps == nil || !ps.available[c] {
		return
	}
	delete(ps.available, c)
	if !ps.online() {
		ps.lastSeen = time.Now()
		s.announcePresence(c.dev.acct)
	}
}

// announcePresence tells every subscriber the account's current presence. Call with s.mu held.
func (s *Server) announcePresence(a *account) {
	ps := s.presenceOf(a)
	for sub, as := range ps.subs {
		if sub.ctx.Err() != nil {
			delete(ps.subs, sub)
			continue
		}
		sub.send(presenceNode(ps, as))
	}
}

// presenceNode is a presence update as subscribers get it: no type when online, "unavailable"
// with the last-seen time when not.
func presenceNode(ps *presenceState, from types.JID) waBinary.Node {
	attrs := waBinary.Attrs{"from": from}
	if !ps.online() {
		attrs["type"] = "unavailable"
		if !ps.lastSeen.IsZero() {
			attrs["last"] = ps.lastSeen.Unix()
		} else {
			attrs["last"] = "deny"
		}
	}
	return waBinary.Node{Tag: "presence", Attrs: attrs}
}
