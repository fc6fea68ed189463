package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// maxPictureBytes caps a profile picture the sandbox keeps the digest of.
const maxPictureBytes = 5 << 20

// mexStatusQuery is the GraphQL query id whatsmeow's SetStatusMessage sends (the about text).
const mexStatusQuery = "9152604461510864"

// iqMex serves the GraphQL-over-IQ queries the sandbox knows: setting the about text. Others get
// an error, so no client waits for a timeout.
func (s *Server) iqMex(c *conn, node *waBinary.Node) {
	q, ok := node.GetOptionalChildByTag("query")
	if !ok || attrString(q.Attrs["query_id"]) != mexStatusQuery {
		replyError(c, node, 501, "feature-not-implemented")
		return
	}
	var req struct {
		Variables struct {
			Input struct {
				Text *string `json:"text"`
			} `json:"input"`
		} `json:"variables"`
	}
	if err := json.Unmarshal(contentBytes(q.Content), &req); err != nil || req.Variables.Input.Text == nil {
		replyError(c, node, 400, "bad-request")
		return
	}
	s.mu.Lock()
	c.dev.acct.About = *req.Variables.Input.Text
	s.dirty = true
	s.mu.Unlock()
	reply(c, node, waBinary.Node{Tag: "result", Content: []byte(`{"data":{"xwa2_text_status_update":{"success":true}}}`)})
}

// iqProfilePicture serves setting the account's own picture (whatsmeow's SetGroupPhoto aimed at
// the account's JID): the sandbox keeps the picture's digest as its id. Group pictures and other
// accounts' pictures are refused.
func (s *Server) iqProfilePicture(c *conn, node *waBinary.Node) {
	if attrString(node.Attrs["type"]) != "set" {
		replyError(c, node, 404, "item-not-found")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := c.dev.acct
	if target, ok := node.Attrs["target"].(types.JID); ok && s.accountByJID(target) != acct {
		replyError(c, node, 403, "forbidden")
		return
	}
	pic, ok := node.GetOptionalChildByTag("picture")
	data := contentBytes(pic.Content)
	if !ok || len(data) == 0 {
		acct.PictureID = ""
		s.dirty = true
		reply(c, node)
		return
	}
	if len(data) > maxPictureBytes || len(data) < 3 || data[0] != 0xFF || data[1] != 0xD8 {
		replyError(c, node, 406, "not-acceptable")
		return
	}
	sum := sha256.Sum256(data)
	acct.PictureID = hex.EncodeToString(sum[:8])
	s.dirty = true
	reply(c, node, waBinary.Node{Tag: "picture", Attrs: waBinary.Attrs{"id": acct.PictureID}})
}

// learnPushName takes the name a device announces with its presence as the account's name, as
// WhatsApp does: others see it on the account's next messages. Call with s.mu held.
func (s *Server) learnPushName(c *conn, node *waBinary.Node) {
	if name := attrString(node.Attrs["name"]); name != "" && name != c.dev.acct.Name {
		c.dev.acct.Name = name
		s.dirty = true
	}
}
