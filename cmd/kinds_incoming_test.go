package cmd

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

const (
	accountPhone = "15550001111"
	bobPhone     = "15550002222"
)

// hookCounter counts the messages webhooks carried, by id.
type hookCounter struct {
	mu   sync.Mutex
	seen map[string][]chat.Message
}

func newHookCounter(t *testing.T) (*hookCounter, string) {
	h := &hookCounter{seen: map[string][]chat.Message{}}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p chat.WebhookPayload
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("webhook body %s: %v", body, err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, m := range p.Messages {
			h.seen[m.ID] = append(h.seen[m.ID], m)
		}
	}))
	t.Cleanup(rcv.Close)
	return h, rcv.URL
}

func (h *hookCounter) of(id string) []chat.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.seen[id])
}

// kindsRun drives one chat: the phone (or the account's own phone) sends, the instance journals.
type kindsRun struct {
	t          *testing.T
	base, sb   string
	hooks      *hookCounter
	to, chatID string // what the phones send to; the chat in Chat API form
	checked    []string
}

// kindsJournal reads the whole journal through GET /messages, by id.
func kindsJournal(t *testing.T, base string) map[string][]chat.Message {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/messages?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct{ Messages []chat.Message }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	out := map[string][]chat.Message{}
	for _, m := range page.Messages {
		out[m.ID] = append(out[m.ID], m)
	}
	return out
}

// send has a phone send body and returns what it sent.
func (k *kindsRun) send(phone string, body map[string]any) sandbox.PhoneMessage {
	k.t.Helper()
	body["to"] = k.to
	var sent sandbox.PhoneMessage
	sandboxCall(k.t, k.sb, "POST", "/sandbox/phones/"+phone+"/messages", body, &sent)
	if sent.ID == "" {
		k.t.Fatalf("the phone sent %+v", sent)
	}
	return sent
}

// id is the Chat API id of a message of this chat.
func (k *kindsRun) id(fromMe bool, waID string) string {
	return fmt.Sprintf("%t_%s_%s", fromMe, k.chatID, waID)
}

// expect waits for the entry id in the journal and checks it; the webhook copies are counted at
// the end (onceEach).
func (k *kindsRun) expect(id, what string, ok func(chat.Message) bool) chat.Message {
	k.t.Helper()
	var got []chat.Message
	eventually(k.t, what+" in /messages", func() bool {
		got = kindsJournal(k.t, k.base)[id]
		return len(got) > 0
	})
	if !ok(got[0]) {
		k.t.Errorf("%s: journal entry %+v", what, got[0])
	}
	k.checked = append(k.checked, id)
	return got[0]
}

// onceEach checks that every expected entry is in the journal once and reached the webhook once,
// with the journal's type.
func (k *kindsRun) onceEach() {
	k.t.Helper()
	for _, id := range k.checked {
		eventually(k.t, id+" in a webhook", func() bool { return len(k.hooks.of(id)) > 0 })
	}
	j := kindsJournal(k.t, k.base)
	for _, id := range k.checked {
		hooks := k.hooks.of(id)
		if len(j[id]) != 1 || len(hooks) != 1 || hooks[0].Type != j[id][0].Type {
			k.t.Errorf("%s: %d journal entries, %d webhook copies %+v", id, len(j[id]), len(hooks), hooks)
		}
	}
}

// Every kind a phone sends lands once in the journal and in the webhook with its Chat API type
// and fields, in a 1:1 chat and in a group, on SQLite and PostgreSQL: texts, each media kind
// (downloaded and linked), locations, contact cards, replies, reactions, polls (the phone's and
// the account's own, sent from its phone) and their decrypted votes, edits, revokes and calls.
func TestIncomingKinds(t *testing.T) { onEachDatabase(t, testIncomingKinds) }

func testIncomingKinds(t *testing.T, database string) {
	hooks, hookURL := newHookCounter(t)
	sb := startSandbox(t)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		webhookURL: hookURL, instanceName: "kinds", allowPrivate: true, maxFileBytes: 1 << 20, mediaRetention: time.Hour,
		webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()
	pairAgainstSandbox(t, base, sb)

	t.Run("direct", func(t *testing.T) {
		k := &kindsRun{t: t, base: base, sb: sb, hooks: hooks, to: accountPhone, chatID: bobPhone + "@c.us"}
		k.exchange(bobPhone + "@c.us")
		var rang struct{ CallID string }
		sandboxCall(t, sb, "POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]any{"to": accountPhone, "type": "call"}, &rang)
		k.expect(k.id(false, rang.CallID), "call", func(m chat.Message) bool {
			return m.Type == chat.TypeCallLog && m.Author == bobPhone+"@c.us" && !m.FromMe
		})
		k.onceEach()
	})
	t.Run("group", func(t *testing.T) {
		var g struct{ Group string }
		sandboxCall(t, sb, "POST", "/sandbox/phones/"+bobPhone+"/groups", map[string]any{"name": "Kinds", "members": []string{accountPhone}}, &g)
		k := &kindsRun{t: t, base: base, sb: sb, hooks: hooks, to: g.Group, chatID: strings.TrimSuffix(g.Group, "@g.us") + "@g.us"}
		k.exchange(k.chatID)
		k.onceEach()
	})
}

// exchange runs every kind in the chat; accountTo is where the account's own phone sends.
func (k *kindsRun) exchange(accountTo string) {
	t := k.t
	// A message of the account, sent through the instance, for the phone to reply and react to.
	sent := call(t, "POST", k.base+"/sendMessage", fmt.Sprintf(`{"chatId":%q,"body":"from the account"}`, k.chatID))
	ownID, _ := sent["id"].(string)
	ownWA := ownID[strings.LastIndex(ownID, "_")+1:]
	eventually(t, "the account's message on the phone", func() bool {
		var msgs struct{ Messages []sandbox.PhoneMessage }
		sandboxCall(t, k.sb, "GET", "/sandbox/phones/"+bobPhone+"/messages", nil, &msgs)
		return slices.ContainsFunc(msgs.Messages, func(m sandbox.PhoneMessage) bool { return m.ID == ownWA })
	})

	hello := k.send(bobPhone, map[string]any{"body": "hello"})
	k.expect(k.id(false, hello.ID), "text", func(m chat.Message) bool {
		return m.Type == chat.TypeChat && m.Body == "hello" && !m.FromMe && m.ChatID == k.chatID && m.Author == bobPhone+"@c.us"
	})
	k.media()

	loc := k.send(bobPhone, map[string]any{"location": map[string]any{"lat": 52.5163, "lng": 13.3777, "name": "Brandenburger Tor", "address": "Pariser Platz"}})
	k.expect(k.id(false, loc.ID), "location", func(m chat.Message) bool {
		return m.Type == chat.TypeLocation && m.Body == "52.5163;13.3777" && m.Lat != nil && *m.Lat == 52.5163 &&
			m.Lng != nil && *m.Lng == 13.3777 && m.Address == "Pariser Platz"
	})
	const vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Ann\nTEL;waid=15550003333:+1 555 000 3333\nEND:VCARD"
	card := k.send(bobPhone, map[string]any{"contact": map[string]any{"name": "Ann", "vcard": vcard}})
	k.expect(k.id(false, card.ID), "vcard", func(m chat.Message) bool { return m.Type == chat.TypeVCard && m.Body == vcard })

	// Replies quote the account's message and the phone's own.
	re := k.send(bobPhone, map[string]any{"type": "reply", "quotedId": ownWA, "body": "re: account"})
	k.expect(k.id(false, re.ID), "reply to the account", func(m chat.Message) bool {
		return m.Type == chat.TypeChat && m.Body == "re: account" && m.QuotedMsgID == ownID && m.QuotedMsgBody == "from the account"
	})
	re2 := k.send(bobPhone, map[string]any{"type": "reply", "quotedId": hello.ID, "body": "re: hello"})
	k.expect(k.id(false, re2.ID), "reply to the phone's message", func(m chat.Message) bool {
		return m.QuotedMsgID == k.id(false, hello.ID) && m.QuotedMsgBody == "hello"
	})

	// Reactions, and taking one back.
	like := k.send(bobPhone, map[string]any{"type": "reaction", "targetId": ownWA, "emoji": "👍"})
	k.expect(k.id(false, like.ID), "reaction", func(m chat.Message) bool {
		return m.Type == chat.TypeReaction && m.Body == "👍" && m.QuotedMsgID == ownID
	})
	unlike := k.send(bobPhone, map[string]any{"type": "reaction", "targetId": ownWA, "emoji": ""})
	k.expect(k.id(false, unlike.ID), "removed reaction", func(m chat.Message) bool {
		return m.Type == chat.TypeReaction && m.Body == "" && m.QuotedMsgID == ownID
	})

	// A poll of the phone and the phone's vote on it.
	poll := k.send(bobPhone, map[string]any{"type": "poll", "name": "Lunch?", "options": []string{"pizza", "sushi", "salad"}, "multiple": true})
	k.expect(k.id(false, poll.ID), "poll", func(m chat.Message) bool {
		return m.Type == chat.TypePoll && m.Poll != nil && m.Poll.Name == "Lunch?" && m.Poll.Multiple &&
			slices.Equal(m.Poll.Options, []string{"pizza", "sushi", "salad"})
	})
	vote := k.send(bobPhone, map[string]any{"type": "poll_vote", "pollId": poll.ID, "options": []string{"sushi", "salad"}})
	k.expect(k.id(false, vote.ID), "vote", func(m chat.Message) bool {
		return m.Type == chat.TypePollVote && m.QuotedMsgID == k.id(false, poll.ID) && slices.Equal(m.SelectedOptions, []string{"sushi", "salad"})
	})
	// A poll of the account, sent from its phone (the instance sees it as its own), voted on by Bob.
	own := sandboxSend(t, k.sb, accountPhone, map[string]any{"to": accountTo, "type": "poll", "name": "Dinner?", "options": []string{"early", "late"}})
	k.expect(k.id(true, own.ID), "the account's poll", func(m chat.Message) bool {
		return m.Type == chat.TypePoll && m.FromMe && m.Poll != nil && !m.Poll.Multiple && slices.Equal(m.Poll.Options, []string{"early", "late"})
	})
	eventually(t, "the account's poll on Bob's phone", func() bool {
		var msgs struct{ Messages []sandbox.PhoneMessage }
		sandboxCall(t, k.sb, "GET", "/sandbox/phones/"+bobPhone+"/messages", nil, &msgs)
		return slices.ContainsFunc(msgs.Messages, func(m sandbox.PhoneMessage) bool { return m.ID == own.ID })
	})
	ownVote := k.send(bobPhone, map[string]any{"type": "poll_vote", "pollId": own.ID, "options": []string{"late"}})
	k.expect(k.id(false, ownVote.ID), "vote on the account's poll", func(m chat.Message) bool {
		return m.Type == chat.TypePollVote && m.QuotedMsgID == k.id(true, own.ID) && slices.Equal(m.SelectedOptions, []string{"late"})
	})

	// An edit and a revoke, each marking the message it changes.
	edit := k.send(bobPhone, map[string]any{"type": "edit", "targetId": hello.ID, "body": "hello, edited"})
	k.expect(k.id(false, edit.ID), "edit", func(m chat.Message) bool {
		return m.Type == chat.TypeEdited && m.Body == "hello, edited" && m.QuotedMsgID == k.id(false, hello.ID)
	})
	if m := kindsJournal(t, k.base)[k.id(false, hello.ID)]; len(m) != 1 || !m[0].Edited || m[0].Body != "hello, edited" {
		t.Errorf("the edited message shows %+v", m)
	}
	oops := k.send(bobPhone, map[string]any{"body": "oops"})
	k.expect(k.id(false, oops.ID), "text to revoke", func(m chat.Message) bool { return m.Body == "oops" })
	revoke := k.send(bobPhone, map[string]any{"type": "revoke", "targetId": oops.ID})
	k.expect(k.id(false, revoke.ID), "revoke", func(m chat.Message) bool {
		return m.Type == chat.TypeRevoked && m.QuotedMsgID == k.id(false, oops.ID)
	})
	if m := kindsJournal(t, k.base)[k.id(false, oops.ID)]; len(m) != 1 || !m[0].Revoked {
		t.Errorf("the revoked message shows %+v", m)
	}
}

// media has the phone send each media kind; each is downloaded and linked.
func (k *kindsRun) media() {
	for _, f := range []struct{ mime, name, kind string }{
		{"image/png", "a.png", chat.TypeImage}, {"video/mp4", "a.mp4", chat.TypeVideo},
		{"audio/ogg; codecs=opus", "voice.ogg", chat.TypePTT}, {"audio/mpeg", "song.mp3", chat.TypeAudio},
		{"application/pdf", "a.pdf", chat.TypeDocument}, {"image/webp", "s.webp", chat.TypeSticker},
	} {
		data := "bytes of " + f.name
		sent := k.send(bobPhone, map[string]any{"body": "caption of " + f.name, "media": map[string]string{
			"data": base64.StdEncoding.EncodeToString([]byte(data)), "mimetype": f.mime, "fileName": f.name}})
		m := k.expect(k.id(false, sent.ID), f.kind, func(m chat.Message) bool {
			return m.Type == f.kind && strings.Contains(m.Body, "/media/in/") && m.MimeType == f.mime
		})
		if got := fetchLink(k.t, m.Body); got != data {
			k.t.Errorf("%s: the link serves %q", f.kind, got)
		}
	}
}

func fetchLink(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

// sandboxSend has a phone send body and returns what it sent.
func sandboxSend(t *testing.T, sb, phone string, body map[string]any) sandbox.PhoneMessage {
	t.Helper()
	var sent sandbox.PhoneMessage
	sandboxCall(t, sb, "POST", "/sandbox/phones/"+phone+"/messages", body, &sent)
	return sent
}
