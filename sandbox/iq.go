package sandbox

import (
	"bytes"
	"encoding/binary"
	"slices"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// handleIQ answers one info query. Every IQ gets an answer, an error for those the sandbox does
// not know, so no client waits for a timeout.
func (s *Server) handleIQ(c *conn, node *waBinary.Node) {
	switch attrString(node.Attrs["type"]) {
	case "result", "error":
		s.finishPairing(c, node)
		return
	}
	if c.dev == nil {
		if reg, ok := node.GetOptionalChildByTag("link_code_companion_reg"); ok {
			s.iqLinkCode(c, node, reg)
			return
		}
		replyError(c, node, 401, "not-authorized")
		return
	}
	switch attrString(node.Attrs["xmlns"]) {
	case "w:p", "passive":
		reply(c, node)
	case "encrypt":
		s.iqEncrypt(c, node)
	case "usync":
		s.iqUsync(c, node)
	case "privacy":
		iqPrivacy(c, node)
	case "w:g2":
		s.iqGroups(c, node)
	case "w:m":
		s.iqMediaConn(c, node)
	case "md":
		s.iqRemoveDevice(c, node)
	case "w:mex":
		s.iqMex(c, node)
	case "w:profile:picture":
		s.iqProfilePicture(c, node)
	default:
		replyError(c, node, 501, "feature-not-implemented")
	}
}

// reply answers an IQ with type=result and the given children.
func reply(c *conn, req *waBinary.Node, children ...waBinary.Node) {
	n := waBinary.Node{Tag: "iq", Attrs: waBinary.Attrs{"type": "result", "id": req.Attrs["id"], "from": iqFrom(req)}}
	if len(children) > 0 {
		n.Content = children
	}
	c.send(n)
}

// replyError answers an IQ with type=error.
func replyError(c *conn, req *waBinary.Node, code int, text string) {
	c.send(waBinary.Node{Tag: "iq", Attrs: waBinary.Attrs{"type": "error", "id": req.Attrs["id"], "from": iqFrom(req)},
		Content: []waBinary.Node{{Tag: "error", Attrs: waBinary.Attrs{"code": code, "text": text}}}})
}

func iqFrom(req *waBinary.Node) any {
	if to, ok := req.Attrs["to"].(types.JID); ok {
		return to
	}
	return serverJID
}

// iqEncrypt serves the prekey count, prekey upload and prekey bundle fetch.
func (s *Server) iqEncrypt(c *conn, node *waBinary.Node) {
	children := node.GetChildren()
	if len(children) == 0 {
		replyError(c, node, 400, "bad-request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dev := c.dev
	switch children[0].Tag {
	case "count":
		reply(c, node, waBinary.Node{Tag: "count", Attrs: waBinary.Attrs{"value": len(dev.PreKeys)}})
	case "registration", "list", "identity", "type", "skey":
		if !applyUpload(dev, node) {
			replyError(c, node, 400, "bad-request")
			return
		}
		s.dirty = true
		reply(c, node)
	case "key":
		reply(c, node, waBinary.Node{Tag: "list", Content: s.bundles(children[0])})
	case "digest":
		replyError(c, node, 404, "item-not-found")
	default:
		replyError(c, node, 501, "feature-not-implemented")
	}
}

// applyUpload stores a device's uploaded identity, signed prekey and one-time prekeys.
func applyUpload(dev *device, node *waBinary.Node) bool {
	if reg, ok := node.GetChildByTag("registration").Content.([]byte); ok && len(reg) == 4 {
		dev.Registration = binary.BigEndian.Uint32(reg)
	}
	if id, ok := node.GetChildByTag("identity").Content.([]byte); ok && len(id) == 32 {
		dev.Identity = id
	}
	if sk, ok := parsePreKey(node.GetChildByTag("skey")); ok {
		dev.SignedPreKey = sk
	}
	list := node.GetChildByTag("list")
	dev.PreKeys = slices.Grow(dev.PreKeys, len(list.GetChildren()))
	for _, k := range list.GetChildren() {
		pk, ok := parsePreKey(k)
		if !ok {
			return false
		}
		dev.PreKeys = append(dev.PreKeys, pk)
	}
	return len(dev.Identity) == 32
}

func parsePreKey(n waBinary.Node) (preKey, bool) {
	id, _ := n.GetChildByTag("id").Content.([]byte)
	val, _ := n.GetChildByTag("value").Content.([]byte)
	if len(id) != 3 || len(val) != 32 {
		return preKey{}, false
	}
	// Copies, so the keys do not pin the whole decrypted upload frame in memory.
	pk := preKey{ID: uint32(id[0])<<16 | uint32(id[1])<<8 | uint32(id[2]), Pub: bytes.Clone(val)}
	if n.Tag == "skey" {
		sig, _ := n.GetChildByTag("signature").Content.([]byte)
		if len(sig) != 64 {
			return preKey{}, false
		}
		pk.Sig = bytes.Clone(sig)
	}
	return pk, true
}

func preKeyNode(tag string, pk preKey) waBinary.Node {
	id := []byte{byte(pk.ID >> 16), byte(pk.ID >> 8), byte(pk.ID)}
	children := []waBinary.Node{{Tag: "id", Content: id}, {Tag: "value", Content: pk.Pub}}
	if tag == "skey" {
		children = append(children, waBinary.Node{Tag: "signature", Content: pk.Sig})
	}
	return waBinary.Node{Tag: tag, Content: children}
}

// bundles answers a prekey fetch, using up one one-time prekey per device. Call with s.mu held.
func (s *Server) bundles(keyNode waBinary.Node) []waBinary.Node {
	var out []waBinary.Node
	for _, u := range keyNode.GetChildren() {
		jid, ok := u.Attrs["jid"].(types.JID)
		if u.Tag != "user" || !ok {
			continue
		}
		dev := s.deviceByJID(jid)
		if dev == nil || len(dev.Identity) != 32 || len(dev.SignedPreKey.Pub) != 32 {
			out = append(out, waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}, Content: []waBinary.Node{
				{Tag: "error", Attrs: waBinary.Attrs{"code": 404, "text": "item-not-found"}}}})
			continue
		}
		reg := make([]byte, 4)
		binary.BigEndian.PutUint32(reg, dev.Registration)
		children := []waBinary.Node{
			{Tag: "registration", Content: reg}, {Tag: "type", Content: []byte{5}},
			{Tag: "identity", Content: dev.Identity}, preKeyNode("skey", dev.SignedPreKey),
		}
		if len(dev.PreKeys) > 0 {
			children = append(children, preKeyNode("key", dev.PreKeys[0]))
			dev.PreKeys = dev.PreKeys[1:]
			s.dirty = true
		}
		out = append(out, waBinary.Node{Tag: "user", Attrs: waBinary.Attrs{"jid": jid}, Content: children})
	}
	return out
}

// iqPrivacy answers privacy settings queries (everything visible) and token updates.
func iqPrivacy(c *conn, node *waBinary.Node) {
	if _, ok := node.GetOptionalChildByTag("privacy"); ok && attrString(node.Attrs["type"]) == "get" {
		var cats []waBinary.Node
		for _, name := range []string{"last", "online", "profile", "status", "readreceipts", "groupadd", "calladd"} {
			cats = append(cats, waBinary.Node{Tag: "category", Attrs: waBinary.Attrs{"name": name, "value": "all"}})
		}
		reply(c, node, waBinary.Node{Tag: "privacy", Content: cats})
		return
	}
	reply(c, node)
}

// iqMediaConn tells the client where to upload media: the sandbox itself, whatever host name
// the client's transport uses.
func (s *Server) iqMediaConn(c *conn, node *waBinary.Node) {
	reply(c, node, waBinary.Node{Tag: "media_conn", Attrs: waBinary.Attrs{
		"auth": s.mediaAuth, "ttl": 3600, "auth_ttl": 3600, "max_buckets": 12,
	}, Content: []waBinary.Node{{Tag: "host", Attrs: waBinary.Attrs{"hostname": mediaHost}}}})
}

// iqRemoveDevice logs a companion out at its own request.
func (s *Server) iqRemoveDevice(c *conn, node *waBinary.Node) {
	rm, ok := node.GetOptionalChildByTag("remove-companion-device")
	if !ok {
		replyError(c, node, 501, "feature-not-implemented")
		return
	}
	s.mu.Lock()
	dev := c.dev
	if jid, ok := rm.Attrs["jid"].(types.JID); ok {
		if d := s.deviceByJID(jid); d != nil && d.acct == dev.acct {
			dev = d
		}
	}
	reply(c, node)
	if dev.ID != 0 {
		s.removeDevice(dev, c)
	}
	s.mu.Unlock()
}

// childrenOf returns the children of node's first child named tag.
func childrenOf(node *waBinary.Node, tag string) []waBinary.Node {
	child := node.GetChildByTag(tag)
	return child.GetChildren()
}
