package sandbox

import (
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// routeMessage delivers an encrypted message to every device it was encrypted for and acks it
// to the sender. The sandbox never sees plaintext: it only routes ciphertext, as WhatsApp does.
func (s *Server) routeMessage(c *conn, node *waBinary.Node) {
	to, ok := node.Attrs["to"].(types.JID)
	id := attrString(node.Attrs["id"])
	now := time.Now().Unix()
	code := 400
	if ok && id != "" {
		s.mu.Lock()
		_, fanout := node.GetOptionalChildByTag("participants")
		_, oneDevice := node.Attrs["participant"]
		switch {
		case !fanout && (to.Server != types.GroupServer || oneDevice):
			// A retry: re-encrypted for the one device that could not decrypt the original.
			code = s.routeRetry(c.dev, to, node, now)
		case to.Server == types.GroupServer:
			code = s.routeGroupMessage(c.dev, to, node, now)
		case to.Server == types.DefaultUserServer || to.Server == types.HiddenUserServer:
			code = s.routeDirectMessage(c.dev, to, node, now)
		}
		s.mu.Unlock()
	}
	ack := waBinary.Node{Tag: "ack", Attrs: waBinary.Attrs{"class": "message", "id": id, "t": now}}
	if ok {
		ack.Attrs["from"] = to
	}
	if code != 0 {
		ack.Attrs["error"] = code
	}
	c.send(ack)
}

// messageAttrs are the attributes every delivered copy of a message carries.
func messageAttrs(sender *device, node *waBinary.Node, now int64) waBinary.Attrs {
	attrs := waBinary.Attrs{"id": node.Attrs["id"], "t": now, "type": attrString(node.Attrs["type"]), "notify": sender.acct.Name}
	if edit, ok := node.Attrs["edit"]; ok {
		attrs["edit"] = edit
	}
	return attrs
}

// routeDirectMessage handles a 1:1 message: copies for the recipient's devices and, as device-sent
// messages, for the sender's other devices. Returns an ack error code or 0. Call with s.mu held.
func (s *Server) routeDirectMessage(sender *device, to types.JID, node *waBinary.Node, now int64) int {
	recipient := s.accountByJID(to)
	if recipient == nil {
		return 404
	}
	identity, hasIdentity := node.GetOptionalChildByTag("device-identity")
	for _, p := range childrenOf(node, "participants") {
		jid, ok := p.Attrs["jid"].(types.JID)
		if p.Tag != "to" || !ok {
			continue
		}
		dev := s.deviceByJID(jid)
		if dev == nil || dev == sender || (dev.acct != recipient && dev.acct != sender.acct) {
			continue
		}
		attrs := messageAttrs(sender, node, now)
		attrs["from"] = sender.addr(to)
		if dev.acct == sender.acct {
			attrs["recipient"] = to
			if to.Server == types.HiddenUserServer {
				attrs["peer_recipient_pn"] = recipient.pn()
			} else {
				attrs["peer_recipient_lid"] = recipient.lid()
			}
		} else if to.Server == types.HiddenUserServer {
			attrs["sender_pn"] = sender.pn()
		} else {
			attrs["sender_lid"] = sender.lid()
		}
		content := p.GetChildren()
		if hasIdentity && hasPreKeyMessage(content) {
			content = append(content, identity)
		}
		s.deliver(dev, waBinary.Node{Tag: "message", Attrs: attrs, Content: content})
	}
	return 0
}

// routeRetry delivers a message re-encrypted for one device after that device's retry receipt:
// no participant list, the device is "to" (or, in groups, "participant"). Call with s.mu held.
func (s *Server) routeRetry(sender *device, to types.JID, node *waBinary.Node, now int64) int {
	target := to
	if to.Server == types.GroupServer {
		target, _ = node.Attrs["participant"].(types.JID)
	}
	dev := s.deviceByJID(target)
	if dev == nil || dev == sender {
		return 404
	}
	attrs := messageAttrs(sender, node, now)
	if to.Server == types.GroupServer {
		attrs["from"], attrs["participant"], attrs["participant_pn"] = to, sender.lid(), sender.pn()
		attrs["addressing_mode"] = "lid"
	} else {
		attrs["from"] = sender.addr(target)
		if recipient, ok := node.Attrs["recipient"]; ok {
			attrs["recipient"] = recipient
		}
		if target.Server == types.HiddenUserServer {
			attrs["sender_pn"] = sender.pn()
		} else {
			attrs["sender_lid"] = sender.lid()
		}
	}
	var content []waBinary.Node
	for _, child := range node.GetChildren() {
		if child.Tag == "enc" || child.Tag == "device-identity" {
			content = append(content, child)
		}
	}
	s.deliver(dev, waBinary.Node{Tag: "message", Attrs: attrs, Content: content})
	return 0
}

// routeGroupMessage fans a group message out to every other device of every member: the
// per-device sender-key distribution (if any) plus the shared skmsg. Call with s.mu held.
func (s *Server) routeGroupMessage(sender *device, to types.JID, node *waBinary.Node, now int64) int {
	g := s.groups[to.User]
	if g == nil {
		return 404
	}
	if !g.has(sender.acct.Phone) {
		return 403
	}
	direct := map[*device][]waBinary.Node{}
	for _, p := range childrenOf(node, "participants") {
		if jid, ok := p.Attrs["jid"].(types.JID); ok && p.Tag == "to" {
			if dev := s.deviceByJID(jid); dev != nil {
				direct[dev] = p.GetChildren()
			}
		}
	}
	shared := node.GetChildrenByTag("enc")
	identity, hasIdentity := node.GetOptionalChildByTag("device-identity")
	for _, phone := range g.Members {
		acct := s.byPhone[phone]
		if acct == nil {
			continue
		}
		for _, id := range acct.sortedDevices() {
			dev := acct.Devices[id]
			content := append(append([]waBinary.Node{}, direct[dev]...), shared...)
			if dev == sender || len(content) == 0 {
				continue
			}
			if hasIdentity && hasPreKeyMessage(content) {
				content = append(content, identity)
			}
			attrs := messageAttrs(sender, node, now)
			attrs["from"], attrs["participant"], attrs["participant_pn"] = to, sender.lid(), sender.pn()
			attrs["addressing_mode"] = "lid"
			s.deliver(dev, waBinary.Node{Tag: "message", Attrs: attrs, Content: content})
		}
	}
	return 0
}

func hasPreKeyMessage(encs []waBinary.Node) bool {
	for _, e := range encs {
		if e.Tag == "enc" && attrString(e.Attrs["type"]) == "pkmsg" {
			return true
		}
	}
	return false
}

// routeReceipt forwards a delivery, read or retry receipt to the devices of the account it is
// meant for (for groups: the author of the message, named by participant).
func (s *Server) routeReceipt(c *conn, node *waBinary.Node) {
	to, ok := node.Attrs["to"].(types.JID)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sender := c.dev
	// A device acknowledges a message it received with its receipt (delivery, or retry when it
	// could not decrypt), not with an <ack>.
	if t := attrString(node.Attrs["type"]); t == "" || t == "inactive" || t == "sender" || t == "retry" || t == "peer_msg" {
		s.retire(sender, ackKey("message", node.Attrs, "to"))
	}
	attrs := waBinary.Attrs{}
	for k, v := range node.Attrs {
		if k != "to" {
			attrs[k] = v
		}
	}
	if _, ok := attrs["t"]; !ok {
		attrs["t"] = time.Now().Unix()
	}
	var target *account
	if to.Server == types.GroupServer {
		author, ok := node.Attrs["participant"].(types.JID)
		if !ok {
			return
		}
		target = s.accountByJID(author)
		attrs["from"], attrs["participant"] = to, sender.lid()
	} else {
		target = s.accountByJID(to)
		attrs["from"] = sender.addr(to)
	}
	if target == nil {
		return
	}
	for _, id := range target.sortedDevices() {
		if dev := target.Devices[id]; dev != sender {
			s.deliver(dev, waBinary.Node{Tag: "receipt", Attrs: attrs, Content: node.Content})
		}
	}
}

// notifyDevicesChanged tells the account's devices, and every account that fetched its device
// list, to drop their cached list. Call with s.mu held.
func (s *Server) notifyDevicesChanged(acct *account) {
	audience := map[*account]bool{acct: true}
	for w := range acct.watchers {
		audience[w] = true
	}
	for a := range audience {
		for _, id := range a.sortedDevices() {
			for _, from := range []types.JID{acct.pn(), acct.lid()} {
				s.deliver(a.Devices[id], waBinary.Node{Tag: "notification", Attrs: waBinary.Attrs{
					"from": from, "type": "devices", "id": randomID(8), "t": time.Now().Unix(),
				}, Content: []waBinary.Node{{Tag: "update", Attrs: waBinary.Attrs{"device_hash": "sandbox"}}}})
			}
		}
	}
}

// removeDevice unlinks a companion: its live connection hears device_removed unless it asked
// for the removal itself. Call with s.mu held.
func (s *Server) removeDevice(dev *device, asker *conn) {
	delete(dev.acct.Devices, dev.ID)
	if dev.conn != nil && dev.conn != asker {
		dev.conn.sendAndClose(streamConflict("device_removed", "401"))
		dev.conn = nil
	}
	s.dirty = true
	s.notifyDevicesChanged(dev.acct)
}
