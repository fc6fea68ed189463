package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

func TestEngineFilesBothWays(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.pair()
	ctx := context.Background()

	img := []byte("\x89PNG\r\n\x1a\n not really a png, but bytes all the same")
	rel, err := h.media.Save(media.Outgoing, "cover.png", img)
	if err != nil {
		t.Fatal(err)
	}
	it, err := h.store.Enqueue(ctx, store.NewItem{Chat: bob, Body: "cover.png", Payload: queue.File{File: rel,
		FileName: "cover.png", MimeType: "image/png", MediaType: chat.TypeImage, Caption: "the cover", Size: len(img)}})
	if err != nil {
		t.Fatal(err)
	}
	h.eng.WakeQueue()
	sum := sha256.Sum256(img)
	got := h.waitPhone("15550002222", func(m sandbox.PhoneMessage) bool {
		return m.ID == it.WAID && m.Media != nil && m.Media.SHA256 != ""
	})
	if got.Type != "image" || got.Media.SHA256 != hex.EncodeToString(sum[:]) || got.Media.Caption != "the cover" {
		t.Fatalf("bob got %+v / %+v", got, got.Media)
	}

	doc := []byte("%PDF-1.4 quarterly report")
	var sent sandbox.PhoneMessage
	h.admin("POST", "/sandbox/phones/15550002222/messages", map[string]any{"to": "15550001111", "body": "report",
		"media": map[string]string{"data": base64.StdEncoding.EncodeToString(doc), "mimetype": "application/pdf", "fileName": "q3.pdf"}}, &sent)
	in := h.waitJournal(func(m chat.Message) bool { return strings.HasSuffix(m.ID, sent.ID) })
	if in.Type != chat.TypeDocument || in.FileName != "q3.pdf" || in.Caption != "report" || !strings.HasPrefix(in.Body, "/media/in/") {
		t.Fatalf("incoming document %+v", in)
	}
	path, err := h.media.Path(strings.SplitN(strings.TrimPrefix(in.Body, "/media/"), "?", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != string(doc) {
		t.Fatalf("stored media %q %v", data, err)
	}
}

func TestEngineJournalsJoinedGroups(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.pair()
	var g struct{ Group string }
	h.admin("POST", "/sandbox/phones/15550002222/groups", map[string]any{"name": "Team", "members": []string{"15550001111"}}, &g)
	sys := h.waitJournal(func(m chat.Message) bool { return m.Type == chat.TypeSystem })
	if sys.ChatID != strings.TrimSuffix(g.Group, "@g.us")+"@g.us" || !strings.Contains(sys.Body, "Team") || sys.Author != "15550002222@c.us" {
		t.Fatalf("system message %+v (group %s)", sys, g.Group)
	}
}

func TestEngineCreatesGroups(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.pair()
	ctx := context.Background()
	it, err := h.store.Enqueue(ctx, store.NewItem{Body: "Browsers", Payload: queue.Group{GroupName: "Browsers",
		Participants: []string{"15550002222@c.us"}, MessageText: "Safari is the new IE"}})
	if err != nil {
		t.Fatal(err)
	}
	h.eng.WakeQueue()
	wctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	done, err := h.store.WaitFinished(wctx, it.QueueNumber)
	if err != nil || done.State != store.StateSent || !strings.HasSuffix(done.Result, "@g.us") {
		t.Fatalf("group item %+v %v", done, err)
	}
	got := h.waitPhone("15550002222", func(m sandbox.PhoneMessage) bool { return m.ID == it.WAID && m.Body != "" })
	if got.Body != "Safari is the new IE" || got.Chat != strings.TrimSuffix(done.Result, "@g.us")+"@g.us" {
		t.Fatalf("bob got %+v (group %s)", got, done.Result)
	}
	// Bob answers in the group; the journal has it in the group chat with Bob as author.
	var reply sandbox.PhoneMessage
	h.admin("POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": done.Result, "body": "Chrome is"}, &reply)
	in := h.waitJournal(func(m chat.Message) bool { return strings.HasSuffix(m.ID, reply.ID) && m.Body == "Chrome is" })
	if in.ChatID != done.Result || in.Author != "15550002222@c.us" {
		t.Fatalf("group reply %+v", in)
	}
}

// Every kind of message a phone sends lands in the journal with its Chat API type.
func TestEngineJournalsEveryIncomingType(t *testing.T) {
	h := newHarness(t, t.TempDir())
	h.pair()
	send := func(extra map[string]any) string {
		body := map[string]any{"to": "15550001111"}
		for k, v := range extra {
			body[k] = v
		}
		var sent sandbox.PhoneMessage
		h.admin("POST", "/sandbox/phones/15550002222/messages", body, &sent)
		return sent.ID
	}
	file := func(mime, name string) map[string]any {
		return map[string]any{"body": "caption of " + name, "media": map[string]string{
			"data": base64.StdEncoding.EncodeToString([]byte("bytes of " + name)), "mimetype": mime, "fileName": name}}
	}
	cases := []struct {
		id, kind string
		body     func(string) bool
	}{
		{send(map[string]any{"body": "plain text"}), chat.TypeChat, func(b string) bool { return b == "plain text" }},
		{send(file("image/png", "a.png")), chat.TypeImage, isLink},
		{send(file("video/mp4", "a.mp4")), chat.TypeVideo, isLink},
		{send(file("audio/ogg; codecs=opus", "voice.ogg")), chat.TypePTT, isLink},
		{send(file("audio/mpeg", "song.mp3")), chat.TypeAudio, isLink},
		{send(file("application/pdf", "a.pdf")), chat.TypeDocument, isLink},
		{send(map[string]any{"location": map[string]any{"lat": 52.52, "lng": 13.405, "name": "Berlin"}}), chat.TypeLocation,
			func(b string) bool { return b == "52.52;13.405" }},
		{send(map[string]any{"contact": map[string]string{"name": "Ann", "vcard": "BEGIN:VCARD\nFN:Ann\nEND:VCARD"}}), chat.TypeVCard,
			func(b string) bool { return strings.Contains(b, "FN:Ann") }},
	}
	for _, c := range cases {
		m := h.waitJournal(func(m chat.Message) bool { return strings.HasSuffix(m.ID, "_"+c.id) })
		if m.Type != c.kind || !c.body(m.Body) || m.FromMe || m.ChatID != "15550002222@c.us" {
			t.Errorf("%s: journal entry %+v", c.kind, m)
		}
	}
}

func isLink(body string) bool { return strings.HasPrefix(body, "/media/in/") }

// A group creation whose group was recorded before a crash (the first message was not sent) is
// resent without creating the group again: the first message goes to the recorded group.
func TestEngineNeverCreatesAGroupTwice(t *testing.T) {
	h := newHarness(t, t.TempDir())
	ctx := context.Background()
	var existing struct{ Group string }
	h.admin("POST", "/sandbox/phones/15550002222/groups", map[string]any{"name": "Browsers",
		"members": []string{"15550001111"}}, &existing)
	it, err := h.store.Enqueue(ctx, store.NewItem{Body: "Browsers", Payload: queue.Group{GroupName: "Browsers",
		Participants: []string{"15550002222@c.us"}, MessageText: "created once"}})
	if err != nil {
		t.Fatal(err)
	}
	// What an attempt records once the group exists, then a crash before the first message.
	if err := h.store.MarkSending(ctx, it.QueueNumber); err != nil {
		t.Fatal(err)
	}
	if err := h.store.RecordResult(ctx, it.QueueNumber, existing.Group); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Postpone(ctx, it.QueueNumber, "killed"); err != nil {
		t.Fatal(err)
	}
	h.pair()
	h.eng.WakeQueue()
	wctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	done, err := h.store.WaitFinished(wctx, it.QueueNumber)
	if err != nil || done.State != store.StateSent || done.Result != existing.Group {
		t.Fatalf("group item %+v %v, want sent to the recorded group %s", done, err, existing.Group)
	}
	got := h.waitPhone("15550002222", func(m sandbox.PhoneMessage) bool { return m.ID == it.WAID })
	if got.Body != "created once" || got.Chat != existing.Group {
		t.Fatalf("bob got %+v, want it in %s", got, existing.Group)
	}
}

// A group creation interrupted after WhatsApp made the group but before the instance recorded it
// (kill -9, or the answer lost with the connection) adopts that group when it is resent: the
// account ends up with one group of that name, and the first message goes to it.
func TestEngineAdoptsTheGroupOfAnInterruptedCreation(t *testing.T) {
	h := newHarness(t, t.TempDir())
	ctx := context.Background()
	it, err := h.store.Enqueue(ctx, store.NewItem{Body: "Browsers", Payload: queue.Group{GroupName: "Browsers",
		Participants: []string{"15550002222@c.us"}, MessageText: "created once"}})
	if err != nil {
		t.Fatal(err)
	}
	// The interrupted attempt: it was claimed, and the account's group came into being (made here
	// by the account's phone, the same WhatsApp user), then the process died before recording it.
	if err := h.store.MarkSending(ctx, it.QueueNumber); err != nil {
		t.Fatal(err)
	}
	var made struct{ Group string }
	h.admin("POST", "/sandbox/phones/15550001111/groups", map[string]any{"name": "Browsers",
		"members": []string{"15550002222"}}, &made)
	if err := h.store.Postpone(ctx, it.QueueNumber, "killed"); err != nil {
		t.Fatal(err)
	}
	h.pair()
	h.eng.WakeQueue()
	wctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	done, err := h.store.WaitFinished(wctx, it.QueueNumber)
	if err != nil || done.State != store.StateSent || done.Result != made.Group {
		t.Fatalf("group item %+v %v, want sent to the group made before the crash %s", done, err, made.Group)
	}
	got := h.waitPhone("15550002222", func(m sandbox.PhoneMessage) bool { return m.ID == it.WAID })
	if got.Chat != made.Group {
		t.Fatalf("bob got %+v, want it in %s", got, made.Group)
	}
	var groups struct{ Groups []sandbox.GroupInfo }
	h.admin("GET", "/sandbox/phones/15550002222/groups", nil, &groups)
	if n := len(groups.Groups); n != 1 {
		t.Fatalf("bob is in %d groups, want the one: %+v", n, groups.Groups)
	}
}

// A group creation that was never attempted creates its group even when the account already
// has one of that name: only an interrupted attempt adopts one.
func TestEngineCreatesANewGroupOfAnExistingName(t *testing.T) {
	h := newHarness(t, t.TempDir())
	ctx := context.Background()
	var made struct{ Group string }
	h.admin("POST", "/sandbox/phones/15550001111/groups", map[string]any{"name": "Browsers",
		"members": []string{"15550002222"}}, &made)
	it, err := h.store.Enqueue(ctx, store.NewItem{Body: "Browsers", Payload: queue.Group{GroupName: "Browsers",
		Participants: []string{"15550002222@c.us"}}})
	if err != nil {
		t.Fatal(err)
	}
	h.pair()
	h.eng.WakeQueue()
	wctx, cancel := context.WithTimeout(ctx, waitFor)
	defer cancel()
	done, err := h.store.WaitFinished(wctx, it.QueueNumber)
	if err != nil || done.State != store.StateSent || done.Result == "" || done.Result == made.Group {
		t.Fatalf("group item %+v %v, want a new group beside %s", done, err, made.Group)
	}
}
