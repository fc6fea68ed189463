package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/queue"
)

func TestIsOneEmoji(t *testing.T) {
	for s, want := range map[string]bool{
		"👍": true, "👍🏽": true, "❤️": true, "❤": true, "🇩🇪": true, "1️⃣": true, "#️⃣": true,
		"👨‍👩‍👧‍👦": true, "🏴‍☠️": true, "🏴󠁧󠁢󠁳󠁣󠁴󠁿": true, "🙏": true,
		"": false, "👍👍": false, "🇩🇪🇫🇷": false, "ok": false, "a👍": false, "👍 ": false, "1": false,
		"\u200d👍": false, "🏽": false, "!": false, "\x00": false, "é": false,
	} {
		if got := isOneEmoji(s); got != want {
			t.Errorf("isOneEmoji(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestPollOf(t *testing.T) {
	opts := func(s ...string) []flexString {
		out := []flexString{}
		for _, o := range s {
			out = append(out, flexString(o))
		}
		return out
	}
	twelve, thirteen := opts(), opts()
	for i := range 13 {
		if i < 12 {
			twelve = append(twelve, flexString(fmt.Sprint("o", i)))
		}
		thirteen = append(thirteen, flexString(fmt.Sprint("o", i)))
	}
	p, err := pollOf(" Lunch? ", opts(" pizza", "sushi "), true)
	if err != nil || p.Name != "Lunch?" || fmt.Sprint(p.Options) != "[pizza sushi]" || !p.Multiple {
		t.Errorf("pollOf = %+v %v", p, err)
	}
	if _, err := pollOf("Q", twelve, false); err != nil {
		t.Errorf("12 options: %v", err)
	}
	for what, c := range map[string]struct {
		name    string
		options []flexString
		want    string
	}{
		"one option":      {"Q", opts("a"), "2 to 12 options"},
		"13 options":      {"Q", thirteen, "2 to 12 options"},
		"duplicate":       {"Q", opts("a", " a"), "twice"},
		"empty option":    {"Q", opts("a", ""), "empty"},
		"empty name":      {"  ", opts("a", "b"), "name"},
		"long name":       {strings.Repeat("q", MaxPollNameLength+1), opts("a", "b"), "at most"},
		"long option":     {"Q", opts("a", strings.Repeat("b", MaxPollOptionLength+1)), "at most"},
		"invalid UTF-8":   {"Q\xff", opts("a", "b"), "UTF-8"},
		"no options list": {"Q", nil, "2 to 12 options"},
	} {
		if _, err := pollOf(c.name, c.options, false); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", what, err, c.want)
		}
	}
}

func TestEditRefusal(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	mine := chat.Message{FromMe: true, Type: chat.TypeChat, Time: now.Add(-queue.EditWindow + time.Minute).Unix()}
	if r := editRefusal(mine, now); r != "" {
		t.Errorf("a fresh own text: %q", r)
	}
	for what, c := range map[string]struct {
		change func(*chat.Message)
		want   string
	}{
		"someone else's": {func(m *chat.Message) { m.FromMe = false }, "own messages"},
		"an image":       {func(m *chat.Message) { m.Type = chat.TypeImage }, "only text"},
		"deleted":        {func(m *chat.Message) { m.Revoked = true }, "deleted"},
		"too old":        {func(m *chat.Message) { m.Time = now.Add(-queue.EditWindow - time.Second).Unix() }, "older than the 15m0s"},
	} {
		m := mine
		c.change(&m)
		if r := editRefusal(m, now); !strings.Contains(r, c.want) || r == "" {
			t.Errorf("%s: %q, want %q", what, r, c.want)
		}
	}
}

// Requests that name journaled messages, or a send still in the queue: the accepted ones are
// queued with their payload; a message too old to edit, a forward of a file no longer stored and a
// forward of a message not sent yet are refused and queue nothing.
func TestRefSendsQueueOrRefuse(t *testing.T) {
	h := sqliteHarness(t, nil)
	ctx := context.Background()
	journal := func(m chat.Message) string {
		t.Helper()
		if _, _, err := h.st.AppendMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	alice := chat.ID{Kind: chat.Person, User: "17472822486"}
	id := func(fromMe bool, n int) string {
		return chat.MessageID{FromMe: fromMe, Chat: alice, WAID: fmt.Sprintf("3EB0%018d", n)}.String()
	}
	fresh := journal(chat.Message{ID: id(true, 1), Type: chat.TypeChat, Body: "hi", FromMe: true, Time: time.Now().Unix()})
	old := journal(chat.Message{ID: id(true, 2), Type: chat.TypeChat, Body: "hi", FromMe: true,
		Time: time.Now().Add(-time.Hour).Unix()})
	rel, err := h.media.Save(media.Incoming, "pic.png", []byte("png"))
	if err != nil {
		t.Fatal(err)
	}
	queued := decode[sendResponse](t, h.postJSON("/sendMessage", `{"phone":"17472822486","body":"not sent yet"}`)).ID
	kept := journal(chat.Message{ID: id(false, 3), Type: chat.TypeImage, Body: h.media.Link(rel), MimeType: "image/png"})
	gone := journal(chat.Message{ID: id(false, 4), Type: chat.TypeImage, Body: h.media.Link("in/missing.png")})

	for _, c := range []struct {
		path, body string
		code       int
		kind, meta string
	}{
		{"/editMessage", fmt.Sprintf(`{"messageId":%q,"body":"hello"}`, fresh), 200, "edit", `{"messageId":"` + fresh + `"}`},
		{"/editMessage", fmt.Sprintf(`{"messageId":%q,"body":"hello"}`, old), 422, "", ""},
		{"/sendReaction", fmt.Sprintf(`{"messageId":%q,"reaction":"👍"}`, kept), 200, "reaction",
			`{"messageId":"` + kept + `","reaction":"👍"}`},
		{"/forwardMessage", fmt.Sprintf(`{"messageId":%q,"phone":"15550003333"}`, kept), 200, "forward", `{"messageId":"` + kept + `"}`},
		{"/forwardMessage", fmt.Sprintf(`{"messageId":%q,"phone":"15550003333"}`, gone), 422, "", ""},
		{"/deleteMessage", fmt.Sprintf(`{"messageId":%q}`, fresh), 200, "delete", `{"messageId":"` + fresh + `"}`},
		{"/editMessage", fmt.Sprintf(`{"messageId":%q,"body":"sent soon"}`, queued), 200, "edit", `{"messageId":"` + queued + `"}`},
		{"/sendReaction", fmt.Sprintf(`{"messageId":%q,"reaction":"👍"}`, queued), 200, "reaction",
			`{"messageId":"` + queued + `","reaction":"👍"}`},
		{"/forwardMessage", fmt.Sprintf(`{"messageId":%q,"phone":"15550003333"}`, queued), 422, "", ""},
		{"/sendPoll", `{"chatId":"17472822486@c.us","name":"Q","options":["a","b"],"multiple":1}`, 200, "poll",
			`{"name":"Q","options":["a","b"],"multiple":true}`},
	} {
		_, before, _ := h.st.ListQueue(ctx, 100)
		rec := h.postJSON(c.path, c.body)
		_, after, _ := h.st.ListQueue(ctx, 100)
		if rec.Code != c.code {
			t.Errorf("POST %s %s = %d %s, want %d", c.path, c.body, rec.Code, rec.Body, c.code)
			continue
		}
		if c.code != http.StatusOK {
			if len(after) != len(before) {
				t.Errorf("POST %s %s queued an item", c.path, c.body)
			}
			continue
		}
		if len(after) != len(before)+1 || after[len(after)-1].Kind != c.kind || after[len(after)-1].Metadata != c.meta {
			t.Errorf("POST %s %s: queue %+v", c.path, c.body, after)
		}
	}
}
