package api

import (
	"context"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// Without an engine that acts on chats the chat list still answers from the store, and the
// actions answer 503; bad input is refused first with 400 or 422.
func TestChatsWithoutAChatEngine(t *testing.T) {
	h := sqliteHarness(t, nil)
	m := chat.Message{ID: "false_17472822486@c.us_3EB0000000000000000001", Type: chat.TypeChat, Body: "hi",
		Time: 1000, ChatName: "Alice"}
	if _, _, err := h.st.AppendMessage(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	rec := h.do("GET", "/dialogs", "", nil, true)
	type dialogs struct {
		Dialogs []dialogJSON `json:"dialogs"`
		Total   int          `json:"total"`
	}
	if d := decode[dialogs](t, rec); rec.Code != 200 || d.Total != 1 || d.Dialogs[0].Name != "Alice" || d.Dialogs[0].Unread != 1 {
		t.Fatalf("dialogs = %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/dialogs?limit=5000", "", 422},
		{"GET", "/dialogs?page=-1", "", 400},
		{"GET", "/dialogs?limit=x", "", 400},
		{"GET", "/dialog", "", 400},
		{"GET", "/dialog?chatId=nope", "", 422},
		{"GET", "/dialog?chatId=19990000000@c.us", "", 404},
		{"GET", "/dialog?chatId=17472822486@c.us", "", 200},
		{"POST", "/readChat", `{}`, 400},
		{"POST", "/readChat", `{"phone":"17472822486"}`, 503},
		{"POST", "/typing", `{"phone":"17472822486"}`, 400},
		{"POST", "/typing", `{"phone":"17472822486","state":"dancing"}`, 422},
		{"POST", "/typing", `{"phone":"17472822486","state":"paused"}`, 503},
		{"GET", "/checkPhone", "", 400},
		{"GET", "/checkPhone?phone=12", "", 422},
		{"POST", "/checkPhone", `{"phone":"17472822486"}`, 503},
		{"GET", "/contacts", "", 503},
		{"POST", "/me", `{}`, 400},
		{"POST", "/me", `{"name":""}`, 422},
		{"POST", "/me", `{"about":"hello"}`, 503},
	} {
		var rec = h.do(c.method, c.path, "application/json", nil, true)
		if c.body != "" {
			rec = h.postJSON(c.path, c.body)
		}
		if rec.Code != c.code {
			t.Errorf("%s %s %s = %d %s, want %d", c.method, c.path, c.body, rec.Code, rec.Body, c.code)
		}
	}
}
