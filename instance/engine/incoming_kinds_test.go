package engine

import (
	"context"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// Each kind is classified with its Chat API type and fields; what a phone does not show is not.
func TestClassifyKinds(t *testing.T) {
	key := &waCommon.MessageKey{ID: proto.String("3EB0TARGET"), FromMe: proto.Bool(true)}
	for _, tc := range []struct {
		name string
		msg  *waE2E.Message
		want func(content) bool
	}{
		{"link preview", &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("see https://x.org"),
			Title: proto.String("X"), Description: proto.String("the X page")}},
			func(c content) bool {
				return c.kind == chat.TypeChat && c.body == "see https://x.org" && c.title == "X" && c.description == "the X page"
			}},
		{"location", &waE2E.Message{LocationMessage: &waE2E.LocationMessage{DegreesLatitude: proto.Float64(-33.8568),
			DegreesLongitude: proto.Float64(151.2153), Name: proto.String("Opera"), Address: proto.String("Bennelong Point")}},
			func(c content) bool {
				return c.kind == chat.TypeLocation && c.body == "-33.8568;151.2153" && *c.lat == -33.8568 && *c.lng == 151.2153 &&
					c.address == "Bennelong Point" && c.caption == "Opera"
			}},
		{"location without address", &waE2E.Message{LocationMessage: &waE2E.LocationMessage{DegreesLatitude: proto.Float64(1),
			DegreesLongitude: proto.Float64(2), Name: proto.String("Somewhere")}},
			func(c content) bool { return c.address == "Somewhere" && c.body == "1;2" }},
		{"single-choice poll", &waE2E.Message{PollCreationMessageV3: &waE2E.PollCreationMessage{Name: proto.String("Q?"),
			Options:                []*waE2E.PollCreationMessage_Option{{OptionName: proto.String("a")}, {OptionName: proto.String("b")}},
			SelectableOptionsCount: proto.Uint32(1)}},
			func(c content) bool {
				return c.kind == chat.TypePoll && c.poll.Name == "Q?" && !c.poll.Multiple && slices.Equal(c.poll.Options, []string{"a", "b"})
			}},
		{"vote", &waE2E.Message{PollUpdateMessage: &waE2E.PollUpdateMessage{PollCreationMessageKey: key}},
			func(c content) bool { return c.kind == chat.TypePollVote && c.target == key }},
		{"reaction", &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{Key: key, Text: proto.String("🎉")}},
			func(c content) bool {
				return c.kind == chat.TypeReaction && c.body == "🎉" && c.target == key && !c.encrypted
			}},
		{"encrypted reaction", &waE2E.Message{EncReactionMessage: &waE2E.EncReactionMessage{TargetMessageKey: key}},
			func(c content) bool { return c.kind == chat.TypeReaction && c.encrypted }},
		{"edit", &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(), Key: key,
			EditedMessage: &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String("new")}}}},
			func(c content) bool { return c.kind == chat.TypeEdited && c.body == "new" && c.target == key }},
		{"revoke", &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum(), Key: key}},
			func(c content) bool { return c.kind == chat.TypeRevoked && c.body == "" && c.target == key }},
		{"call log", &waE2E.Message{CallLogMesssage: &waE2E.CallLogMessage{CallOutcome: waE2E.CallLogMessage_MISSED.Enum()}},
			func(c content) bool { return c.kind == chat.TypeCallLog && c.body == "missed" }},
		{"quoted sticker", &waE2E.Message{StickerMessage: &waE2E.StickerMessage{Mimetype: proto.String("image/webp"),
			ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String("3EB0Q")}}},
			func(c content) bool {
				return c.kind == chat.TypeSticker && c.context.GetStanzaID() == "3EB0Q" && c.download != nil
			}},
	} {
		c, ok := classify(tc.msg)
		if !ok || !tc.want(c) {
			t.Errorf("%s: classified as %+v (ok %v)", tc.name, c, ok)
		}
	}
	for name, msg := range map[string]*waE2E.Message{
		"sender key only":    {SenderKeyDistributionMessage: &waE2E.SenderKeyDistributionMessage{GroupID: proto.String("g")}},
		"ephemeral setting":  {ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_EPHEMERAL_SETTING.Enum()}},
		"revoke without key": {ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum()}},
	} {
		if c, ok := classify(msg); ok {
			t.Errorf("%s: classified as %+v", name, c)
		}
	}
}

func TestOptionNames(t *testing.T) {
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	got := optionNames([]string{"pizza", "sushi"}, [][]byte{hash("sushi"), hash("pizza"), {0xab}})
	if !slices.Equal(got, []string{"sushi", "pizza", "ab"}) {
		t.Fatalf("optionNames = %v", got)
	}
	if got := optionNames(nil, nil); got == nil || len(got) != 0 {
		t.Fatalf("no choice = %#v", got)
	}
}

// offlineEngine is an engine on a fresh SQLite store with a logged-out client of account
// 15550001111, to feed events to by hand.
func offlineEngine(t *testing.T) (*Engine, *whatsmeow.Client) {
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
	dev := e.container.NewDevice()
	dev.ID = &types.JID{User: "15550001111", Server: types.DefaultUserServer, Device: 3}
	dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: []byte{}, AccountSignature: make([]byte, 64),
		AccountSignatureKey: make([]byte, 32), DeviceSignature: make([]byte, 64)}
	if err := dev.Save(ctx); err != nil { // gives the device its stores
		t.Fatal(err)
	}
	return e, whatsmeow.NewClient(dev, nil)
}

var bobJID = types.NewJID("15550002222", types.DefaultUserServer)

func fromBob(id string, msg *waE2E.Message) *events.Message {
	return &events.Message{Info: types.MessageInfo{MessageSource: types.MessageSource{Chat: bobJID, Sender: bobJID},
		ID: id, Timestamp: time.Unix(1800000000, 0), PushName: "Bob"}, Message: msg}
}

func protocol(typ waE2E.ProtocolMessage_Type, target string, edited *waE2E.Message) *waE2E.Message {
	return &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: typ.Enum(), EditedMessage: edited,
		Key: &waCommon.MessageKey{ID: proto.String(target), FromMe: proto.Bool(true), RemoteJID: proto.String("15550001111@s.whatsapp.net")}}}
}

// Re-delivered reactions, edits and revokes land once and change their target once; a revoke of
// a message never seen and a vote that cannot be decrypted do not stop the event pipeline.
func TestIncomingChangesLandOnce(t *testing.T) {
	e, cli := offlineEngine(t)
	ctx := context.Background()
	text := func(s string) *waE2E.Message { return &waE2E.Message{Conversation: proto.String(s)} }
	reaction := &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{Text: proto.String("👍"),
		Key: &waCommon.MessageKey{ID: proto.String("3EB0MINE"), FromMe: proto.Bool(false), RemoteJID: proto.String("15550001111@s.whatsapp.net")}}}
	evs := []*events.Message{
		fromBob("3EB0HELLO", text("helo")),
		fromBob("3EB0EDIT1", protocol(waE2E.ProtocolMessage_MESSAGE_EDIT, "3EB0HELLO", text("hello"))),
		fromBob("3EB0EDIT2", protocol(waE2E.ProtocolMessage_MESSAGE_EDIT, "3EB0HELLO", text("hello!"))),
		fromBob("3EB0EDIT1", protocol(waE2E.ProtocolMessage_MESSAGE_EDIT, "3EB0HELLO", text("hello"))), // late re-delivery
		fromBob("3EB0LIKE", reaction), fromBob("3EB0LIKE", reaction),
		fromBob("3EB0REVOKE", protocol(waE2E.ProtocolMessage_REVOKE, "3EB0HELLO", nil)),
		fromBob("3EB0REVOKE", protocol(waE2E.ProtocolMessage_REVOKE, "3EB0HELLO", nil)),
		fromBob("3EB0GHOST", protocol(waE2E.ProtocolMessage_REVOKE, "3EB0NEVERSEEN", nil)),
		fromBob("3EB0VOTE", &waE2E.Message{PollUpdateMessage: &waE2E.PollUpdateMessage{
			PollCreationMessageKey: &waCommon.MessageKey{ID: proto.String("3EB0NOPOLL"), FromMe: proto.Bool(true)},
			Vote:                   &waE2E.PollEncValue{EncPayload: []byte("x"), EncIV: []byte("y")}}}),
	}
	for _, ev := range evs {
		if !e.onMessage(cli, ev) {
			t.Fatalf("event %s was refused", ev.Info.ID)
		}
	}
	msgs, err := e.opts.Store.Messages(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	byID := map[string]chat.Message{}
	for _, m := range msgs {
		ids = append(ids, m.ID)
		byID[m.ID] = m
	}
	const c = "false_15550002222@c.us_"
	if want := []string{c + "3EB0HELLO", c + "3EB0EDIT1", c + "3EB0EDIT2", c + "3EB0LIKE", c + "3EB0REVOKE", c + "3EB0GHOST"}; !slices.Equal(ids, want) {
		t.Fatalf("journal %v, want %v", ids, want)
	}
	if h := byID[c+"3EB0HELLO"]; h.Body != "hello!" || !h.Edited || !h.Revoked || h.Type != chat.TypeChat {
		t.Errorf("the changed message is %+v", h)
	}
	if m := byID[c+"3EB0EDIT2"]; m.Type != chat.TypeEdited || m.Body != "hello!" || m.QuotedMsgID != c+"3EB0HELLO" {
		t.Errorf("edit %+v", m)
	}
	if m := byID[c+"3EB0LIKE"]; m.Type != chat.TypeReaction || m.Body != "👍" || m.QuotedMsgID != "true_15550002222@c.us_3EB0MINE" {
		t.Errorf("reaction %+v", m)
	}
	if m := byID[c+"3EB0GHOST"]; m.Type != chat.TypeRevoked || m.QuotedMsgID != c+"3EB0NEVERSEEN" {
		t.Errorf("revoke of an unknown message %+v", m)
	}
}

// References name the account's own messages true_ by the quoted participant (phone number or
// LID) and the key's fromMe, seen from the sender.
func TestReferencesNameTheAuthor(t *testing.T) {
	e, cli := offlineEngine(t)
	cli.Store.LID = types.NewJID("99887766", types.HiddenUserServer)
	group := chat.ID{Kind: chat.Group, User: "120363000000000001"}
	inGroup := types.MessageInfo{MessageSource: types.MessageSource{IsGroup: true, Sender: bobJID}}
	byMe := types.MessageInfo{MessageSource: types.MessageSource{IsFromMe: true}}
	bob := chat.ID{Kind: chat.Person, User: "15550002222"}
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"group reaction to the account (LID)", e.targetID(cli, inGroup, group, &waCommon.MessageKey{ID: proto.String("A"),
			Participant: proto.String("99887766@lid")}), "true_120363000000000001@g.us_A"},
		{"group reaction to the sender's own", e.targetID(cli, inGroup, group, &waCommon.MessageKey{ID: proto.String("B"),
			FromMe: proto.Bool(true)}), "false_120363000000000001@g.us_B"},
		{"1:1 reaction by another device to the contact's", e.targetID(cli, byMe, bob, &waCommon.MessageKey{ID: proto.String("C"),
			FromMe: proto.Bool(false)}), "false_15550002222@c.us_C"},
		{"reply quoting the account", e.quotedID(cli, bob, &waE2E.ContextInfo{StanzaID: proto.String("D"),
			Participant: proto.String("15550001111@s.whatsapp.net")}), "true_15550002222@c.us_D"},
		{"reply quoting the contact", e.quotedID(cli, bob, &waE2E.ContextInfo{StanzaID: proto.String("E"),
			Participant: proto.String("15550002222@s.whatsapp.net")}), "false_15550002222@c.us_E"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, tc.got, tc.want)
		}
	}
}
