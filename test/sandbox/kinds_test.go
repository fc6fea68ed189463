package sandbox_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

const (
	alicePhone = "15550001111" // the account a whatsmeow client plays
	bobPhone   = "15550002222" // a simulated phone driven through the admin API
)

var (
	alicePN = types.NewJID(alicePhone, types.DefaultUserServer)
	bobPN   = types.NewJID(bobPhone, types.DefaultUserServer)
)

// aliceClientBobPhone starts a sandbox with Alice's account played by a whatsmeow client and
// Bob's phone.
func aliceClientBobPhone(t *testing.T) (*network, *client) {
	t.Helper()
	n := startSandbox(t)
	n.addPhone(alicePhone, "Alice")
	n.addPhone(bobPhone, "Bob")
	alice := newClient(t, n)
	alice.pair(n, alicePhone)
	return n, alice
}

// phoneSend has a phone send something through the admin API and returns what it sent.
func (n *network) phoneSend(phone string, body map[string]any) phoneMessage {
	n.t.Helper()
	var sent phoneMessage
	n.mustCall("POST", "/sandbox/phones/"+phone+"/messages", body, &sent)
	return sent
}

// phoneMessageByID returns a phone's current view of one message.
func (n *network) phoneMessageByID(phone, id string) phoneMessage {
	n.t.Helper()
	for _, m := range n.phoneMessages(phone) {
		if m.ID == id {
			return m
		}
	}
	n.t.Fatalf("phone %s has no message %s", phone, id)
	return phoneMessage{}
}

func TestKindsDirectChat(t *testing.T) {
	n, alice := aliceClientBobPhone(t)
	exchangeKinds(t, n, alice, bobPN, alicePhone)
}

func TestKindsGroupChat(t *testing.T) {
	n, alice := aliceClientBobPhone(t)
	info, err := alice.cli.CreateGroup(context.Background(), whatsmeow.ReqCreateGroup{Name: "Kinds", Participants: []types.JID{bobPN}})
	if err != nil {
		t.Fatalf("create group: %v", err)
	}
	exchangeKinds(t, n, alice, info.JID, info.JID.String())
}

// exchangeKinds runs every kind both ways between Alice's client (in clientChat) and Bob's phone
// (sending to phoneTo): text and read receipts, replies, reactions, polls and votes, edits and
// revokes.
func exchangeKinds(t *testing.T, n *network, alice *client, clientChat types.JID, phoneTo string) {
	ctx := context.Background()
	aliceFrom := alicePN.String()

	// Text and read receipts, both ways.
	hello, err := alice.cli.SendMessage(ctx, clientChat, text("hello"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool { return m.ID == hello.ID && m.Type == "text" && m.Body == "hello" })
	n.mustCall("POST", "/sandbox/phones/"+bobPhone+"/read", map[string]any{"ids": []string{hello.ID}}, nil)
	waitEvent(alice, func(r *events.Receipt) bool {
		return r.Type == types.ReceiptTypeRead && slices.Contains(r.MessageIDs, hello.ID)
	})

	fromBob := n.phoneSend(bobPhone, map[string]any{"to": phoneTo, "body": "from bob"})
	in := waitEvent(alice, func(m *events.Message) bool {
		return m.Info.ID == fromBob.ID && m.Message.GetConversation() == "from bob"
	})
	if err := alice.cli.MarkRead(ctx, []types.MessageID{in.Info.ID}, in.Info.Timestamp, in.Info.Chat, in.Info.Sender); err != nil {
		t.Fatalf("mark read: %v", err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool { return m.ID == fromBob.ID && m.Status == "read" })

	// Replies: the client quotes the phone's message, the phone quotes the client's.
	reply, err := alice.cli.SendMessage(ctx, clientChat, &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text: proto.String("re: from bob"), ContextInfo: &waE2E.ContextInfo{StanzaID: proto.String(in.Info.ID),
			Participant: proto.String(in.Info.Sender.ToNonAD().String()), QuotedMessage: in.Message}}})
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool {
		return m.ID == reply.ID && m.Type == "text" && m.Body == "re: from bob" && m.QuotedID == fromBob.ID
	})
	bobReply := n.phoneSend(bobPhone, map[string]any{"to": phoneTo, "type": "reply", "quotedId": hello.ID, "body": "re: hello"})
	if bobReply.QuotedID != hello.ID {
		t.Fatalf("the phone's reply shows %+v", bobReply)
	}
	waitEvent(alice, func(m *events.Message) bool {
		ext := m.Message.GetExtendedTextMessage()
		return m.Info.ID == bobReply.ID && ext.GetText() == "re: hello" && ext.GetContextInfo().GetStanzaID() == hello.ID &&
			ext.GetContextInfo().GetQuotedMessage().GetConversation() == "hello"
	})

	// Reactions: the client reacts to the phone's message and takes it back; the phone reacts too.
	like, err := alice.cli.SendMessage(ctx, clientChat, alice.cli.BuildReaction(in.Info.Chat, in.Info.Sender, in.Info.ID, "👍"))
	if err != nil {
		t.Fatalf("reaction: %v", err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool {
		return m.ID == like.ID && m.Type == "reaction" && m.Reaction == "👍" && m.TargetID == fromBob.ID && m.From == aliceFrom
	})
	if got := n.phoneMessageByID(bobPhone, fromBob.ID).Reactions; got[aliceFrom] != "👍" {
		t.Fatalf("the reacted message shows reactions %v", got)
	}
	unlike, err := alice.cli.SendMessage(ctx, clientChat, alice.cli.BuildReaction(in.Info.Chat, in.Info.Sender, in.Info.ID, ""))
	if err != nil {
		t.Fatalf("remove reaction: %v", err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool { return m.ID == unlike.ID && m.Type == "reaction" && m.Reaction == "" })
	if got := n.phoneMessageByID(bobPhone, fromBob.ID).Reactions; len(got) != 0 {
		t.Fatalf("after the removal the message shows reactions %v", got)
	}
	heart := n.phoneSend(bobPhone, map[string]any{"to": phoneTo, "type": "reaction", "targetId": hello.ID, "emoji": "❤️"})
	waitEvent(alice, func(m *events.Message) bool {
		r := m.Message.GetReactionMessage()
		return m.Info.ID == heart.ID && r.GetText() == "❤️" && r.GetKey().GetID() == hello.ID
	})

	// A poll by the client, voted on by the phone.
	poll, err := alice.cli.SendMessage(ctx, clientChat, alice.cli.BuildPollCreation("Lunch?", []string{"pizza", "sushi"}, 1))
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	got := n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool { return m.ID == poll.ID && m.Type == "poll" })
	if got.Poll == nil || got.Poll.Name != "Lunch?" || !slices.Equal(got.Poll.Options, []string{"pizza", "sushi"}) || got.Poll.Multiple {
		t.Fatalf("the phone shows the poll as %+v", got.Poll)
	}
	vote := n.phoneSend(bobPhone, map[string]any{"to": phoneTo, "type": "poll_vote", "pollId": poll.ID, "options": []string{"sushi"}})
	voteEvt := waitEvent(alice, func(m *events.Message) bool { return m.Info.ID == vote.ID && m.Message.GetPollUpdateMessage() != nil })
	decrypted, err := alice.cli.DecryptPollVote(ctx, voteEvt)
	if err != nil {
		t.Fatalf("decrypting the phone's vote: %v", err)
	}
	if want := sha256.Sum256([]byte("sushi")); len(decrypted.GetSelectedOptions()) != 1 || !bytes.Equal(decrypted.GetSelectedOptions()[0], want[:]) {
		t.Fatalf("the phone voted %x", decrypted.GetSelectedOptions())
	}
	if v := n.phoneMessageByID(bobPhone, poll.ID).Poll.Votes[bobPN.String()]; !slices.Equal(v, []string{"sushi"}) {
		t.Fatalf("the poll shows the phone's vote as %v", v)
	}

	// A poll by the phone, voted on by the client; the phone decrypts the vote.
	bobPoll := n.phoneSend(bobPhone, map[string]any{"to": phoneTo, "type": "poll", "name": "Dessert?", "options": []string{"cake", "fruit", "both"}, "multiple": true})
	pollEvt := waitEvent(alice, func(m *events.Message) bool {
		return m.Info.ID == bobPoll.ID && m.Message.GetPollCreationMessage() != nil
	})
	if pc := pollEvt.Message.GetPollCreationMessage(); pc.GetName() != "Dessert?" || len(pc.GetOptions()) != 3 || pc.GetSelectableOptionsCount() != 0 {
		t.Fatalf("the client got the poll %v", pc)
	}
	voteMsg, err := alice.cli.BuildPollVote(ctx, &pollEvt.Info, []string{"cake", "fruit"})
	if err != nil {
		t.Fatalf("building the vote: %v", err)
	}
	aliceVote, err := alice.cli.SendMessage(ctx, clientChat, voteMsg)
	if err != nil {
		t.Fatalf("vote: %v", err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool {
		return m.ID == aliceVote.ID && m.Type == "poll_vote" && m.TargetID == bobPoll.ID && slices.Equal(m.SelectedOptions, []string{"cake", "fruit"})
	})
	if v := n.phoneMessageByID(bobPhone, bobPoll.ID).Poll.Votes[aliceFrom]; !slices.Equal(v, []string{"cake", "fruit"}) {
		t.Fatalf("the phone's poll shows the client's vote as %v", v)
	}

	// Edits, both ways.
	edit, err := alice.cli.SendMessage(ctx, clientChat, alice.cli.BuildEdit(clientChat, hello.ID, text("hello, edited")))
	if err != nil {
		t.Fatalf("edit: %v", err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool {
		return m.ID == edit.ID && m.Type == "edited" && m.TargetID == hello.ID && m.Body == "hello, edited"
	})
	if m := n.phoneMessageByID(bobPhone, hello.ID); m.Edited != "hello, edited" || m.Body != "hello" {
		t.Fatalf("the edited message shows %+v", m)
	}
	bobEdit := n.phoneSend(bobPhone, map[string]any{"to": phoneTo, "type": "edit", "targetId": fromBob.ID, "body": "from bob, edited"})
	// In a group the sender-key distribution may come as its own event with the same id.
	editEvt := waitEvent(alice, func(m *events.Message) bool { return m.Info.ID == bobEdit.ID && m.Message.GetProtocolMessage() != nil })
	if pm := editEvt.Message.GetProtocolMessage(); !editEvt.IsEdit || pm.GetType() != waE2E.ProtocolMessage_MESSAGE_EDIT ||
		pm.GetKey().GetID() != fromBob.ID || pm.GetEditedMessage().GetConversation() != "from bob, edited" || editEvt.Info.Edit != types.EditAttributeMessageEdit {
		t.Fatalf("the client got the edit as %v (info %+v)", editEvt.Message, editEvt.Info)
	}
	if m := n.phoneMessageByID(bobPhone, fromBob.ID); m.Edited != "from bob, edited" {
		t.Fatalf("the phone's own edited message shows %+v", m)
	}

	// Revokes, both ways.
	revoke, err := alice.cli.SendMessage(ctx, clientChat, alice.cli.BuildRevoke(clientChat, types.EmptyJID, hello.ID))
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool { return m.ID == revoke.ID && m.Type == "revoked" && m.TargetID == hello.ID })
	if !n.phoneMessageByID(bobPhone, hello.ID).Revoked {
		t.Fatal("the revoked message does not show revoked")
	}
	bobRevoke := n.phoneSend(bobPhone, map[string]any{"to": phoneTo, "type": "revoke", "targetId": fromBob.ID})
	revokeEvt := waitEvent(alice, func(m *events.Message) bool {
		return m.Info.ID == bobRevoke.ID && m.Message.GetProtocolMessage() != nil
	})
	if pm := revokeEvt.Message.GetProtocolMessage(); pm.GetType() != waE2E.ProtocolMessage_REVOKE || pm.GetKey().GetID() != fromBob.ID {
		t.Fatalf("the client got the revoke as %v", revokeEvt.Message)
	}
}

// Media kinds, locations, contact cards and link previews show with their fields, both ways.
func TestSharedKindsShowTheirFields(t *testing.T) {
	n, alice := aliceClientBobPhone(t)
	ctx := context.Background()

	for _, tc := range []struct {
		kind, mimetype string
		build          func(up whatsmeow.UploadResponse, mimetype string) *waE2E.Message
		upload         whatsmeow.MediaType
	}{
		{"sticker", "image/webp", func(up whatsmeow.UploadResponse, mt string) *waE2E.Message {
			return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
				Mimetype: &mt, FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength}}
		}, whatsmeow.MediaImage},
		{"ptt", "audio/ogg; codecs=opus", func(up whatsmeow.UploadResponse, mt string) *waE2E.Message {
			return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
				Mimetype: &mt, FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength, PTT: proto.Bool(true)}}
		}, whatsmeow.MediaAudio},
		{"video", "video/mp4", func(up whatsmeow.UploadResponse, mt string) *waE2E.Message {
			return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
				Mimetype: &mt, FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength}}
		}, whatsmeow.MediaVideo},
	} {
		data := bytes.Repeat([]byte(tc.kind+" bytes "), 500)
		sum := sha256.Sum256(data)
		up, err := alice.cli.Upload(ctx, data, tc.upload)
		if err != nil {
			t.Fatalf("upload %s: %v", tc.kind, err)
		}
		resp, err := alice.cli.SendMessage(ctx, bobPN, tc.build(up, tc.mimetype))
		if err != nil {
			t.Fatalf("send %s: %v", tc.kind, err)
		}
		n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool {
			return m.ID == resp.ID && m.Type == tc.kind && m.Media != nil && m.Media.Mimetype == tc.mimetype && m.Media.SHA256 == hex.EncodeToString(sum[:])
		})

		sent := n.phoneSend(bobPhone, map[string]any{"to": alicePhone, "media": map[string]string{
			"data": base64.StdEncoding.EncodeToString(data), "mimetype": tc.mimetype}})
		if sent.Type != tc.kind {
			t.Fatalf("the phone sent %s as %q", tc.mimetype, sent.Type)
		}
		in := waitEvent(alice, func(m *events.Message) bool { return m.Info.ID == sent.ID })
		var dl whatsmeow.DownloadableMessage
		switch tc.kind {
		case "sticker":
			dl = in.Message.GetStickerMessage()
		case "ptt":
			if in.Message.GetAudioMessage().GetPTT() {
				dl = in.Message.GetAudioMessage()
			}
		case "video":
			dl = in.Message.GetVideoMessage()
		}
		if dl == nil {
			t.Fatalf("the client got the phone's %s as %v", tc.kind, in.Message)
		}
		got, err := alice.cli.Download(ctx, dl)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("downloading the phone's %s: %v", tc.kind, err)
		}
	}

	loc, err := alice.cli.SendMessage(ctx, bobPN, &waE2E.Message{LocationMessage: &waE2E.LocationMessage{
		DegreesLatitude: proto.Float64(48.8584), DegreesLongitude: proto.Float64(2.2945), Name: proto.String("Tour Eiffel"),
		Address: proto.String("Champ de Mars, Paris")}})
	if err != nil {
		t.Fatal(err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool {
		return m.ID == loc.ID && m.Type == "location" && m.Lat != nil && *m.Lat == 48.8584 && m.Lng != nil && *m.Lng == 2.2945 &&
			m.Address == "Champ de Mars, Paris" && m.Body == "Tour Eiffel"
	})
	sentLoc := n.phoneSend(bobPhone, map[string]any{"to": alicePhone, "location": map[string]any{"lat": -33.8568, "lng": 151.2153, "name": "Opera", "address": "Bennelong Point"}})
	waitEvent(alice, func(m *events.Message) bool {
		l := m.Message.GetLocationMessage()
		return m.Info.ID == sentLoc.ID && l.GetDegreesLatitude() == -33.8568 && l.GetDegreesLongitude() == 151.2153 && l.GetAddress() == "Bennelong Point"
	})

	const vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Carol\nTEL;waid=15550003333:+1 555 000 3333\nEND:VCARD"
	card, err := alice.cli.SendMessage(ctx, bobPN, &waE2E.Message{ContactMessage: &waE2E.ContactMessage{DisplayName: proto.String("Carol"), Vcard: proto.String(vcard)}})
	if err != nil {
		t.Fatal(err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool { return m.ID == card.ID && m.Type == "vcard" && m.VCard == vcard })

	link, err := alice.cli.SendMessage(ctx, bobPN, &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
		Text: proto.String("see https://example.org/x"), MatchedText: proto.String("https://example.org/x"),
		Title: proto.String("Example"), Description: proto.String("An example page")}})
	if err != nil {
		t.Fatal(err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool {
		return m.ID == link.ID && m.Type == "text" && m.Title == "Example" && m.Description == "An example page" && m.URL == "https://example.org/x"
	})
}

// Typing and presence travel both ways, in a 1:1 chat and in a group.
func TestTypingAndPresence(t *testing.T) {
	n, alice := aliceClientBobPhone(t)
	ctx := context.Background()
	presence := func() sandbox.PhonePresence {
		var p sandbox.PhonePresence
		n.mustCall("GET", "/sandbox/phones/"+bobPhone+"/presence", nil, &p)
		return p
	}
	waitPresence := func(ok func(sandbox.PhonePresence) bool) {
		t.Helper()
		eventually(t, func() bool { return ok(presence()) }, func() any { return presence() })
	}
	hasState := func(chat, state string) func(sandbox.PhonePresence) bool {
		return func(p sandbox.PhonePresence) bool {
			return slices.ContainsFunc(p.ChatStates, func(c sandbox.ChatState) bool {
				return c.Chat == chat && c.From == alicePN.String() && c.State == state
			})
		}
	}

	// The client types to the phone: composing, recording, paused.
	for _, s := range []struct {
		state types.ChatPresence
		media types.ChatPresenceMedia
		want  string
	}{{types.ChatPresenceComposing, "", "composing"}, {types.ChatPresenceComposing, types.ChatPresenceMediaAudio, "recording"}, {types.ChatPresencePaused, "", "paused"}} {
		if err := alice.cli.SendChatPresence(ctx, bobPN, s.state, s.media); err != nil {
			t.Fatal(err)
		}
		waitPresence(hasState(alicePN.String(), s.want))
	}
	// The phone types to the client.
	for _, s := range []struct {
		state string
		want  types.ChatPresence
		media types.ChatPresenceMedia
	}{{"composing", types.ChatPresenceComposing, ""}, {"recording", types.ChatPresenceComposing, types.ChatPresenceMediaAudio}, {"paused", types.ChatPresencePaused, ""}} {
		n.mustCall("POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]any{"to": alicePhone, "type": "typing", "state": s.state}, nil)
		waitEvent(alice, func(e *events.ChatPresence) bool {
			return !e.IsGroup && e.Chat.User == bobPhone && e.State == s.want && e.Media == s.media
		})
	}

	// In a group: the chat is the group, the sender the member.
	info, err := alice.cli.CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Typists", Participants: []types.JID{bobPN}})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.cli.SendChatPresence(ctx, info.JID, types.ChatPresenceComposing, ""); err != nil {
		t.Fatal(err)
	}
	waitPresence(hasState(info.JID.String(), "composing"))
	n.mustCall("POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]any{"to": info.JID.String(), "type": "typing", "state": "composing"}, nil)
	waitEvent(alice, func(e *events.ChatPresence) bool {
		return e.IsGroup && e.Chat == info.JID && e.SenderAlt.User == bobPhone && e.State == types.ChatPresenceComposing
	})

	// Presence: the phone subscribes to Alice and sees her come online; the client subscribes
	// to Bob and sees him come online and leave.
	online := func(want bool) func(sandbox.PhonePresence) bool {
		return func(p sandbox.PhonePresence) bool {
			return slices.ContainsFunc(p.Contacts, func(c sandbox.ContactStatus) bool { return c.JID == alicePN.String() && c.Online == want })
		}
	}
	n.mustCall("POST", "/sandbox/phones/"+bobPhone+"/presence", map[string]any{"subscribe": []string{alicePhone}}, nil)
	waitPresence(online(false))
	alice.cli.Store.PushName = "Alice"
	if err := alice.cli.SendPresence(ctx, types.PresenceAvailable); err != nil {
		t.Fatal(err)
	}
	waitPresence(online(true))

	mark := alice.mark()
	if err := alice.cli.SubscribePresence(ctx, bobPN); err != nil {
		t.Fatal(err)
	}
	waitEventSince(alice, mark, func(e *events.Presence) bool { return e.From.User == bobPhone && e.Unavailable })
	n.mustCall("POST", "/sandbox/phones/"+bobPhone+"/presence", map[string]any{"state": "available"}, nil)
	waitEventSince(alice, mark, func(e *events.Presence) bool { return e.From.User == bobPhone && !e.Unavailable })
	n.mustCall("POST", "/sandbox/phones/"+bobPhone+"/presence", map[string]any{"state": "unavailable"}, nil)
	mark = alice.mark()
	waitEvent(alice, func(e *events.Presence) bool { return e.From.User == bobPhone && e.Unavailable && !e.LastSeen.IsZero() })

	// The client's disconnect takes Alice offline for the phone.
	alice.cli.Disconnect()
	waitPresence(online(false))
}

// GET groups shows the groups the phone is in with participants and admins.
func TestPhoneGroups(t *testing.T) {
	n, alice := aliceClientBobPhone(t)
	n.addPhone("15550003333", "Carol")
	var none struct{ Groups []sandbox.GroupInfo }
	n.mustCall("GET", "/sandbox/phones/"+bobPhone+"/groups", nil, &none)
	if len(none.Groups) != 0 {
		t.Fatalf("before any group the phone is in %+v", none.Groups)
	}
	info, err := alice.cli.CreateGroup(context.Background(), whatsmeow.ReqCreateGroup{Name: "Trio", Participants: []types.JID{bobPN, types.NewJID("15550003333", types.DefaultUserServer)}})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Groups []sandbox.GroupInfo }
	n.mustCall("GET", "/sandbox/phones/"+bobPhone+"/groups", nil, &out)
	if len(out.Groups) != 1 {
		t.Fatalf("the phone is in %+v", out.Groups)
	}
	g := out.Groups[0]
	if g.ID != info.JID.String() || g.Subject != "Trio" || g.Creator != alicePN.String() || len(g.Participants) != 3 ||
		!slices.Equal(g.Admins, []string{alicePN.String()}) {
		t.Fatalf("the group shows as %+v", g)
	}
	for _, p := range g.Participants {
		if (p.JID == alicePN.String()) != (p.Admin && p.SuperAdmin) || p.LID == "" {
			t.Fatalf("participant %+v", p)
		}
	}
	var carol struct{ Groups []sandbox.GroupInfo }
	n.mustCall("GET", "/sandbox/phones/15550003333/groups", nil, &carol)
	if len(carol.Groups) != 1 || carol.Groups[0].ID != g.ID {
		t.Fatalf("carol is in %+v", carol.Groups)
	}
}

// Requests the phone cannot act on are refused with a clear error and the right status.
func TestKindsRefuseBadRequests(t *testing.T) {
	n, alice := aliceClientBobPhone(t)
	n.addPhone("15550003333", "Carol")
	fromAlice, err := alice.cli.SendMessage(context.Background(), bobPN, text("hi"))
	if err != nil {
		t.Fatal(err)
	}
	n.waitPhoneMessage(bobPhone, func(m phoneMessage) bool { return m.ID == fromAlice.ID })
	own := n.phoneSend(bobPhone, map[string]any{"to": alicePhone, "body": "mine"})
	for _, tc := range []struct {
		name string
		body map[string]any
		want int
	}{
		{"unknown type", map[string]any{"to": alicePhone, "type": "dance"}, 400},
		{"reaction without target", map[string]any{"to": alicePhone, "type": "reaction", "emoji": "👍"}, 400},
		{"reaction to an unknown message", map[string]any{"to": alicePhone, "type": "reaction", "targetId": "NOPE", "emoji": "👍"}, 404},
		{"reaction in the wrong chat", map[string]any{"to": "15550003333", "type": "reaction", "targetId": fromAlice.ID, "emoji": "👍"}, 400},
		{"poll with one option", map[string]any{"to": alicePhone, "type": "poll", "name": "?", "options": []string{"only"}}, 400},
		{"poll without a name", map[string]any{"to": alicePhone, "type": "poll", "options": []string{"a", "b"}}, 400},
		{"poll with duplicate options", map[string]any{"to": alicePhone, "type": "poll", "name": "?", "options": []string{"a", "a"}}, 400},
		{"vote on a text", map[string]any{"to": alicePhone, "type": "poll_vote", "pollId": fromAlice.ID, "options": []string{"a"}}, 400},
		{"edit of someone else's message", map[string]any{"to": alicePhone, "type": "edit", "targetId": fromAlice.ID, "body": "x"}, 400},
		{"edit without body", map[string]any{"to": alicePhone, "type": "edit", "targetId": own.ID}, 400},
		{"revoke of someone else's message in a 1:1 chat", map[string]any{"to": alicePhone, "type": "revoke", "targetId": fromAlice.ID}, 400},
		{"reply without body", map[string]any{"to": alicePhone, "type": "reply", "quotedId": fromAlice.ID}, 400},
		{"typing in an unknown state", map[string]any{"to": alicePhone, "type": "typing", "state": "dancing"}, 400},
		{"unknown media kind", map[string]any{"to": alicePhone, "media": map[string]string{"data": "aGk=", "kind": "hologram"}}, 400},
	} {
		var e struct{ Error string }
		if code := n.call("POST", "/sandbox/phones/"+bobPhone+"/messages", tc.body, &e); code != tc.want || e.Error == "" {
			t.Errorf("%s: answered %d %q, want %d with an error", tc.name, code, e.Error, tc.want)
		}
	}
	poll := n.phoneSend(bobPhone, map[string]any{"to": alicePhone, "type": "poll", "name": "One?", "options": []string{"a", "b"}})
	for _, opts := range [][]string{{"c"}, {"a", "b"}} {
		if code := n.call("POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]any{"to": alicePhone, "type": "poll_vote", "pollId": poll.ID, "options": opts}, nil); code != 400 {
			t.Errorf("vote %v on a single-choice poll answered %d, want 400", opts, code)
		}
	}
	for _, body := range []map[string]any{{"state": "asleep"}, {}, {"subscribe": []string{"not a number"}}} {
		if code := n.call("POST", "/sandbox/phones/"+bobPhone+"/presence", body, nil); code != 400 {
			t.Errorf("presence %v answered %d, want 400", body, code)
		}
	}
	// Nothing was sent by the refused requests: the phone shows only its text and its poll.
	var mine []string
	for _, m := range n.phoneMessages(bobPhone) {
		if m.FromMe {
			mine = append(mine, m.Type)
		}
	}
	if !slices.Equal(mine, []string{"text", "poll"}) {
		t.Fatalf("the phone sent %v", mine)
	}
}

// eventually polls ok until it holds or waitFor passes; state describes what was seen last.
func eventually(t *testing.T, ok func() bool, state func() any) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition never held; last state %+v", state())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
