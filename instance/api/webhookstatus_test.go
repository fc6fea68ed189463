package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

func TestWebhookStatus(t *testing.T) {
	h := sqliteHarness(t, nil)
	ctx := context.Background()
	if err := h.st.SetWebhookURL(ctx, "https://example.invalid/hook"); err != nil {
		t.Fatal(err)
	}
	const id = "false_17472822486@c.us_3EB0AAAA"
	if _, _, err := h.st.AppendMessage(ctx, chat.Message{ID: id, Type: chat.TypeChat, Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	get := func(msgID string) webhookStatusReply {
		t.Helper()
		rec := h.do("GET", "/webhookStatus?msgId="+msgID, "", nil, true)
		if rec.Code != 200 {
			t.Fatalf("webhookStatus = %d %s", rec.Code, rec.Body)
		}
		return decode[webhookStatusReply](t, rec)
	}
	if r := get(id); r.PendingEvents != 1 || len(r.Payloads) != 0 {
		t.Fatalf("before batching = %+v", r)
	}
	now := time.UnixMilli(1_800_000_000_000)
	_, err := h.st.FormBatches(ctx, store.Formation{MaxEvents: 10, MaxBatches: 1, Now: now,
		NewID: func() string { return "msg_one" }, Payload: func(p chat.WebhookPayload) ([]byte, error) { return json.Marshal(p) }})
	if err != nil {
		t.Fatal(err)
	}
	o, _ := h.st.NextBatch(ctx, now, false, nil)
	if err := h.st.BatchFailed(ctx, o.Due.Seq, now, now.Add(time.Minute), "webhook answered HTTP 500", false); err != nil {
		t.Fatal(err)
	}
	r := get(id)
	want := payloadAttempt{WebhookID: "msg_one", Events: 1, Attempts: 1, LastError: "webhook answered HTTP 500",
		CreatedAt: now.UnixMilli(), LastAttempt: now.UnixMilli(), NextAttempt: now.Add(time.Minute).UnixMilli()}
	if r.MsgID != id || r.PendingEvents != 0 || len(r.Payloads) != 1 || r.Payloads[0] != want {
		t.Fatalf("after a failed attempt = %+v", r)
	}
	if err := h.st.BatchesDelivered(ctx, []store.Delivery{{Seq: o.Due.Seq, At: now.Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	want.Attempts, want.Delivered, want.DeliveredAt, want.NextAttempt = 2, true, now.Add(time.Minute).UnixMilli(), 0
	if r := get(id); len(r.Payloads) != 1 || r.Payloads[0] != want {
		t.Fatalf("after delivery = %+v", r)
	}
	if r := get("true_17472822486@c.us_3EB0UNKNOWN"); r.PendingEvents != 0 || r.Payloads == nil || len(r.Payloads) != 0 {
		t.Fatalf("unknown message = %+v", r)
	}
	for _, bad := range []string{"", "nonsense"} {
		rec := h.do("GET", "/webhookStatus?msgId="+bad, "", nil, true)
		if e := decode[map[string]string](t, rec); rec.Code != 400 || e["error"] == "" {
			t.Errorf("msgId %q: %d %v", bad, rec.Code, e)
		}
	}
	if rec := h.do("GET", "/webhookStatus?msgId="+id, "", nil, false); rec.Code != 401 {
		t.Errorf("without a token: %d", rec.Code)
	}
}
