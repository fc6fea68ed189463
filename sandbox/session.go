package sandbox

import (
	"bytes"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
)

// maxPending caps one device's offline queue; the oldest nodes go first beyond it.
const maxPending = 50000

// onConnect runs after the Noise handshake: a payload without a username asks to pair,
// one with a username logs an existing device in.
func (s *Server) onConnect(c *conn) {
	s.mu.Lock()
	s.conns[c] = true
	s.mu.Unlock()
	if c.payload.Username == nil {
		s.startPairing(c)
		return
	}
	s.login(c)
}

// onDisconnect forgets a closed connection.
func (s *Server) onDisconnect(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.presenceGone(c)
	if c.dev != nil && c.dev.conn == c {
		c.dev.conn = nil
	}
	if c.pairing != nil {
		if cp := c.pairing.code; cp != nil && s.codePairings[cp.phone] == c {
			delete(s.codePairings, cp.phone)
		}
		for _, ref := range c.pairing.refs {
			if s.pairings[ref] == c {
				delete(s.pairings, ref)
			}
		}
	}
}

// login admits a paired device: checks its keys and faults, replaces an older connection of the
// same device, says <success>, and flushes everything the device has not acknowledged yet.
func (s *Server) login(c *conn) {
	phone := strconv.FormatUint(c.payload.GetUsername(), 10)
	devID := uint16(c.payload.GetDevice())
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.byPhone[phone]
	var dev *device
	if acct != nil {
		dev = acct.Devices[devID]
	}
	now := time.Now()
	switch {
	case dev == nil || !bytes.Equal(dev.NoisePub, c.staticPub):
		c.sendAndClose(failureNode(401, nil))
		return
	case now.Before(dev.BannedUntil):
		c.sendAndClose(failureNode(402, waBinary.Attrs{"code": 101, "expire": int(dev.BannedUntil.Sub(now).Seconds()) + 1}))
		return
	case now.Before(dev.OutdatedUntil):
		c.sendAndClose(failureNode(405, nil))
		return
	}
	if old := dev.conn; old != nil {
		old.sendAndClose(streamConflict("replaced", ""))
	}
	dev.conn, c.dev = c, dev
	c.send(waBinary.Node{Tag: "success", Attrs: waBinary.Attrs{
		"t": now.Unix(), "lid": dev.lid(), "props": "1", "location": "sandbox",
	}})
	for _, p := range dev.Pending {
		c.sendRaw(p.Data, false)
	}
	c.send(waBinary.Node{Tag: "ib", Content: []waBinary.Node{{
		Tag: "offline", Attrs: waBinary.Attrs{"count": len(dev.Pending)},
	}}})
}

// deliver hands node to dev: it is kept until the device acknowledges it and sent at once when
// the device is online. Call with s.mu held.
func (s *Server) deliver(dev *device, node waBinary.Node) {
	data := mustMarshal(spoilIfMarked(dev, node))
	dev.Pending = append(dev.Pending, pendingNode{Key: ackKey(node.Tag, node.Attrs, "from"), Data: data})
	if over := len(dev.Pending) - maxPending; over > 0 {
		dev.Pending = append([]pendingNode(nil), dev.Pending[over:]...)
	}
	s.dirty = true
	if dev.conn != nil {
		dev.conn.sendRaw(data, false)
	}
}

// handleAck retires the pending node a device acknowledged.
func (s *Server) handleAck(c *conn, node *waBinary.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retire(c.dev, ackKey(attrString(node.Attrs["class"]), node.Attrs, "to"))
}

// retire removes a pending node by its ack key. Call with s.mu held.
func (s *Server) retire(dev *device, key string) {
	for i, p := range dev.Pending {
		if p.Key == key {
			dev.Pending = append(dev.Pending[:i], dev.Pending[i+1:]...)
			s.dirty = true
			return
		}
	}
}

// handleNode dispatches one node from a client.
func (s *Server) handleNode(c *conn, node *waBinary.Node) {
	if c.silent() {
		return // the stale fault: heard, never answered
	}
	if node.Tag == "iq" {
		s.handleIQ(c, node)
		return
	}
	if c.dev == nil {
		return // an unpaired connection may only answer pairing IQs
	}
	switch node.Tag {
	case "message":
		s.routeMessage(c, node)
	case "receipt":
		s.routeReceipt(c, node)
	case "ack":
		s.handleAck(c, node)
	case "chatstate":
		s.routeChatState(c, node)
	case "presence":
		s.handlePresence(c, node)
	case "call":
		s.routeCall(c, node)
	}
	// ib nodes need no answer from the sandbox.
}

func failureNode(reason int, extra waBinary.Attrs) waBinary.Node {
	attrs := waBinary.Attrs{"reason": reason}
	for k, v := range extra {
		attrs[k] = v
	}
	return waBinary.Node{Tag: "failure", Attrs: attrs}
}

func streamConflict(kind, code string) waBinary.Node {
	n := waBinary.Node{Tag: "stream:error", Attrs: waBinary.Attrs{}, Content: []waBinary.Node{{
		Tag: "conflict", Attrs: waBinary.Attrs{"type": kind},
	}}}
	if code != "" {
		n.Attrs["code"] = code
	}
	return n
}
