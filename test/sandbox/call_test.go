package sandbox_test

import (
	"testing"

	"go.mau.fi/whatsmeow/types/events"
)

// A phone places a call: the client gets the offer with the caller and the call id, and
// acknowledges it; a call to a group is refused.
func TestPhoneCalls(t *testing.T) {
	n, alice := aliceClientBobPhone(t)
	var rang struct{ CallID string }
	n.mustCall("POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]any{"to": alicePhone, "type": "call"}, &rang)
	offer := waitEvent(alice, func(e *events.CallOffer) bool { return e.CallID == rang.CallID })
	if offer.From.User != bobPhone || offer.CallCreator.User != bobPhone || offer.CallCreatorAlt.Server != "lid" || offer.Timestamp.IsZero() {
		t.Fatalf("offer %+v", offer.BasicCallMeta)
	}
	if code := n.call("POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]any{"to": "120363000000000001@g.us", "type": "call"}, nil); code != 400 {
		t.Fatalf("a call to a group answered %d, want 400", code)
	}
}
