package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// What the API checks when a send is queued is checked again at delivery, as the journal may have
// changed meanwhile: an edit whose message passed WhatsApp's edit window while it waited, a delete
// of another's message in a 1:1 chat and a reaction to a message the journal does not hold fail
// for good, with a reason, and the original stays as it was.
func TestEngineRefsFailForGoodAtDelivery(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.pair()
	ctx := context.Background()
	old := chat.Message{ID: chat.MessageID{FromMe: true, Chat: bob, WAID: "3EB0000000000000000A01"}.String(), Type: chat.TypeChat,
		Body: "old text", FromMe: true, ChatID: bob.String(), Time: time.Now().Add(-queue.EditWindow - time.Minute).Unix()}
	if _, _, err := h.store.AppendMessage(ctx, old); err != nil {
		t.Fatal(err)
	}
	bobs := chat.Message{ID: chat.MessageID{Chat: bob, WAID: "3EB0000000000000000A02"}.String(), Type: chat.TypeChat,
		Body: "bob's text", ChatID: bob.String(), Author: bob.String()}
	if _, _, err := h.store.AppendMessage(ctx, bobs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		item store.NewItem
		want string
	}{
		{store.NewItem{Chat: bob, Body: "new text", Payload: queue.Edit{MessageID: old.ID}}, "edit window"},
		{store.NewItem{Chat: bob, Payload: queue.Delete{MessageID: bobs.ID}}, "own messages"},
		{store.NewItem{Chat: bob, Body: "👍", Payload: queue.Reaction{MessageID: "false_15550002222@c.us_3EB0000000000000000A03",
			Reaction: "👍"}}, "unknown message"},
	} {
		it, err := h.store.Enqueue(ctx, c.item)
		if err != nil {
			t.Fatal(err)
		}
		h.eng.WakeQueue()
		wctx, cancel := context.WithTimeout(ctx, waitFor)
		done, err := h.store.WaitFinished(wctx, it.QueueNumber)
		cancel()
		if err != nil || done.State != store.StateFailed || !strings.Contains(done.Reason, c.want) {
			t.Errorf("%s: %+v %v, want failed with %q", it.Kind, done, err, c.want)
		}
	}
	for _, orig := range []chat.Message{old, bobs} {
		got, err := h.store.Message(ctx, orig.ID)
		if err != nil || got.Body != orig.Body || got.Edited || got.Revoked {
			t.Errorf("original %s after the failed sends: %+v %v", orig.ID, got, err)
		}
	}
}
