package sandbox

import waBinary "go.mau.fi/whatsmeow/binary"

// The undecryptable fault: the next message delivered to a device arrives with its ciphertext
// spoiled (the last byte of every <enc>, which is in the Signal message's MAC, is flipped), so the
// device cannot decrypt it ("bad MAC"). The device answers with a retry receipt, which the sandbox
// routes to the sender like any receipt; the sender's client re-encrypts the message for that
// device (routeRetry), and it arrives once. The spoiled copy is retired from the offline queue by
// the retry receipt.

// spoilNextMessage marks a device so that the next message it is delivered cannot be decrypted.
func spoilNextMessage(d *device) bool {
	d.spoilNext = true
	return true
}

// spoilIfMarked returns node with its ciphertext spoiled when dev is marked and node is a message
// with ciphertext (the mark is then used up); else node. Call with s.mu held.
func spoilIfMarked(dev *device, node waBinary.Node) waBinary.Node {
	if !dev.spoilNext || node.Tag != "message" {
		return node
	}
	children := node.GetChildren()
	spoiled := make([]waBinary.Node, len(children))
	changed := false
	for i, child := range children {
		spoiled[i] = child
		data, ok := child.Content.([]byte)
		if child.Tag != "enc" || !ok || len(data) == 0 {
			continue
		}
		bad := append([]byte(nil), data...)
		bad[len(bad)-1] ^= 0xff
		spoiled[i].Content = bad
		changed = true
	}
	if !changed {
		return node
	}
	dev.spoilNext = false
	node.Content = spoiled
	return node
}
