package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// newContentEngine is an engine on a fresh SQLite store, not connected (no client).
func newContentEngine(t *testing.T) *Engine {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	md, err := media.Open(dir+"/media", "token")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(ctx, Options{Store: st, Media: md})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestReplyContext(t *testing.T) {
	e := newContentEngine(t)
	ctx := context.Background()
	if e.replyContext(ctx, "") != nil || e.replyContext(ctx, "not-an-id") != nil {
		t.Fatal("a context for no quote or a bad id")
	}
	group := chat.ID{Kind: chat.Group, User: "120363025246125486"}
	inGroup := chat.Message{ID: chat.MessageID{Chat: group, WAID: "3EB0AAAA"}.String(), Body: "in the group", Type: chat.TypeChat,
		ChatID: group.String(), Author: "15550003333@c.us", ChatName: "G"}
	lat, lng := 1.5, -2.25
	located := chat.Message{ID: "false_15550002222@c.us_3EB0BBBB", Body: "1.5;-2.25", Type: chat.TypeLocation,
		ChatID: "15550002222@c.us", Author: "15550002222@c.us", Lat: &lat, Lng: &lng, Address: "here"}
	for _, m := range []chat.Message{inGroup, located} {
		if _, _, err := e.opts.Store.AppendMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// A journaled group message: its author and text; the participant suffix of the id is dropped.
	ci := e.replyContext(ctx, inGroup.ID+"_15550003333@c.us")
	if ci.GetStanzaID() != "3EB0AAAA" || ci.GetParticipant() != "15550003333@s.whatsapp.net" ||
		ci.GetQuotedMessage().GetConversation() != "in the group" {
		t.Fatalf("group quote = %v", ci)
	}
	ci = e.replyContext(ctx, located.ID)
	if loc := ci.GetQuotedMessage().GetLocationMessage(); loc.GetDegreesLatitude() != 1.5 || loc.GetDegreesLongitude() != -2.25 ||
		loc.GetAddress() != "here" {
		t.Fatalf("location quote = %v", ci)
	}
	// Unknown to the journal: quoted by id, the sender from the 1:1 chat, no content.
	ci = e.replyContext(ctx, "false_15550004444@c.us_3EB0CCCC")
	if ci.GetStanzaID() != "3EB0CCCC" || ci.GetParticipant() != "15550004444@s.whatsapp.net" || ci.GetQuotedMessage() != nil {
		t.Fatalf("unknown 1:1 quote = %v", ci)
	}
	if ci = e.replyContext(ctx, "false_120363025246125486@g.us_3EB0DDDD"); ci.Participant != nil {
		t.Fatalf("unknown group quote names a sender: %v", ci)
	}

	// quote puts the context on the message and the entry; a quote from another chat names it.
	msg := &waE2E.Message{Conversation: proto.String("re")}
	entry := &chat.Message{}
	e.quote(ctx, store.Item{ChatID: "15550002222@c.us"}, msg, entry, inGroup.ID)
	ext := msg.GetExtendedTextMessage()
	if msg.Conversation != nil || ext.GetText() != "re" || ext.GetContextInfo().GetStanzaID() != "3EB0AAAA" ||
		ext.GetContextInfo().GetRemoteJID() != group.JID() || entry.QuotedMsgID != inGroup.ID || entry.QuotedMsgBody != "in the group" {
		t.Fatalf("quoted text = %v, entry %+v", msg, entry)
	}
}

func TestSetContextOnEveryKind(t *testing.T) {
	ci := &waE2E.ContextInfo{StanzaID: proto.String("X")}
	for _, msg := range []*waE2E.Message{
		{ImageMessage: &waE2E.ImageMessage{}}, {VideoMessage: &waE2E.VideoMessage{}}, {AudioMessage: &waE2E.AudioMessage{}},
		{DocumentMessage: &waE2E.DocumentMessage{}}, {StickerMessage: &waE2E.StickerMessage{}},
		{LocationMessage: &waE2E.LocationMessage{}}, {ContactMessage: &waE2E.ContactMessage{}},
		{ExtendedTextMessage: &waE2E.ExtendedTextMessage{}}, {PollCreationMessage: &waE2E.PollCreationMessage{}},
	} {
		setContext(msg, ci)
		if got := contextOf(msg); got != ci {
			t.Errorf("no context set on %v", msg)
		}
	}
}

func contextOf(msg *waE2E.Message) *waE2E.ContextInfo {
	type withContext interface{ GetContextInfo() *waE2E.ContextInfo }
	for _, part := range []withContext{msg.GetExtendedTextMessage(), msg.GetImageMessage(), msg.GetVideoMessage(),
		msg.GetAudioMessage(), msg.GetDocumentMessage(), msg.GetStickerMessage(), msg.GetLocationMessage(),
		msg.GetContactMessage(), msg.GetPollCreationMessage()} {
		if c := part.GetContextInfo(); c != nil {
			return c
		}
	}
	return nil
}

func TestContentMessages(t *testing.T) {
	loc := locationMessage(queue.Location{Lat: -33.8568, Lng: 151.2153, Address: "Sydney"}).GetLocationMessage()
	if loc.GetDegreesLatitude() != -33.8568 || loc.GetDegreesLongitude() != 151.2153 || loc.GetAddress() != "Sydney" {
		t.Fatalf("location = %v", loc)
	}
	if b := locationBody(-33.8568, 151.2153); b != "-33.8568;151.2153" {
		t.Fatalf("location body = %q", b)
	}
	thumb := []byte{0xff, 0xd8, 0xff}
	ext := linkMessage("see https://example.org", queue.Link{URL: "https://example.org", Title: "T", Description: "D"}, thumb).
		GetExtendedTextMessage()
	if ext.GetText() != "see https://example.org" || ext.GetMatchedText() != "https://example.org" || ext.GetTitle() != "T" ||
		ext.GetDescription() != "D" || !bytes.Equal(ext.GetJPEGThumbnail(), thumb) {
		t.Fatalf("link = %v", ext)
	}
	if ext := linkMessage("x http://a.b", queue.Link{URL: "http://a.b"}, nil).GetExtendedTextMessage(); ext.Title != nil || ext.JPEGThumbnail != nil {
		t.Fatalf("a link without preview = %v", ext)
	}
}

func TestOggOpusSeconds(t *testing.T) {
	page := func(granule uint64, packet string) []byte {
		b := []byte("OggS\x00\x00")
		b = binary.LittleEndian.AppendUint64(b, granule)
		b = append(b, make([]byte, 12)...)
		b = append(b, 1, byte(len(packet)))
		return append(b, packet...)
	}
	head := "OpusHead\x01\x01" + string(binary.LittleEndian.AppendUint16(nil, 312)) + "\x80\xbb\x00\x00\x00\x00\x00"
	data := append(page(0, head), page(3*48000+312+1, "audio")...)
	if secs, ok := oggOpusSeconds(data); !ok || secs != 4 { // 3 s and one sample: rounded up
		t.Fatalf("seconds = %d %v", secs, ok)
	}
	if _, ok := oggOpusSeconds([]byte("OggS not opus")); ok {
		t.Fatal("a duration for a stream without OpusHead")
	}
}
