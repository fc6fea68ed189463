package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// Call has the phone ring a contact: a <call> stanza with an <offer>, as a phone places a voice
// call, which the sandbox routes to every device of the callee. The call is never connected (the
// sandbox carries no media), so to the callee it is a missed call. It returns the call id.
func (p *Phone) Call(ctx context.Context, to string) (string, error) {
	jid, err := ParseRecipient(to)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if jid.Server != types.DefaultUserServer && jid.Server != types.HiddenUserServer {
		return "", fmt.Errorf("%w: a phone calls a person, not %s", ErrInvalid, jid)
	}
	own := p.acct.pn()
	callID := randomID(16)
	node := waBinary.Node{Tag: "call", Attrs: waBinary.Attrs{"id": p.cli.GenerateMessageID(), "to": jid}, Content: []waBinary.Node{{
		Tag: "offer", Attrs: waBinary.Attrs{"call-id": callID, "call-creator": own},
		Content: []waBinary.Node{{Tag: "audio", Attrs: waBinary.Attrs{"enc": "opus", "rate": "16000"}}},
	}}}
	if err := p.cli.DangerousInternals().SendNode(ctx, node); err != nil {
		return "", fmt.Errorf("sending the call offer: %w", err)
	}
	return callID, nil
}

// routeCall delivers a call stanza (offer, reject, terminate…) to every device of the callee, kept
// until each acknowledges it, with the caller's addresses as WhatsApp gives them.
func (s *Server) routeCall(c *conn, node *waBinary.Node) {
	to, ok := node.Attrs["to"].(types.JID)
	if !ok || len(node.GetChildren()) != 1 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sender := c.dev
	callee := s.accountByJID(to)
	if callee == nil || callee == sender.acct {
		return
	}
	child := node.GetChildren()[0]
	attrs := waBinary.Attrs{}
	for k, v := range child.Attrs {
		attrs[k] = v
	}
	if to.Server == types.HiddenUserServer {
		attrs["call-creator"], attrs["caller_pn"] = sender.acct.lid(), sender.acct.pn()
	} else {
		attrs["call-creator"], attrs["caller_lid"] = sender.acct.pn(), sender.acct.lid()
	}
	call := waBinary.Node{Tag: "call", Attrs: waBinary.Attrs{"from": sender.addr(to).ToNonAD(), "id": node.Attrs["id"],
		"t": time.Now().Unix(), "platform": sender.Platform, "version": "2.24.1"},
		Content: []waBinary.Node{{Tag: child.Tag, Attrs: attrs, Content: child.Content}}}
	for _, id := range callee.sortedDevices() {
		s.deliver(callee.Devices[id], call)
	}
}

// sendCall answers POST /sandbox/phones/{phone}/messages with type "call".
func (s *Server) sendCall(w http.ResponseWriter, r *http.Request, p *Phone, to string) {
	ctx, cancel := context.WithTimeout(r.Context(), adminTimeout)
	defer cancel()
	callID, err := p.Call(ctx, to)
	if err != nil {
		writeSendError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"to": to, "type": "call", "callId": callID})
}
