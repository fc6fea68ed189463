package sandbox_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// phoneGroup returns the phone's view of group gid (nil when the phone is not in it).
func (n *network) phoneGroup(phone string, gid types.JID) *sandbox.GroupInfo {
	n.t.Helper()
	var out struct{ Groups []sandbox.GroupInfo }
	n.mustCall("GET", "/sandbox/phones/"+phone+"/groups", nil, &out)
	for _, g := range out.Groups {
		if g.ID == gid.String() {
			return &g
		}
	}
	return nil
}

// waitGroupEvent waits until the phone was told of a change of group gid matching ok.
func (n *network) waitGroupEvent(phone string, gid types.JID, ok func(sandbox.GroupEvent) bool) sandbox.GroupEvent {
	n.t.Helper()
	deadline := time.Now().Add(waitFor)
	var out struct{ Events []sandbox.GroupEvent }
	for time.Now().Before(deadline) {
		n.mustCall("GET", "/sandbox/phones/"+phone+"/group-events", nil, &out)
		for _, e := range out.Events {
			if e.Group == gid.String() && ok(e) {
				return e
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.t.Fatalf("phone %s never heard of the expected change of %s; it has %+v", phone, gid, out.Events)
	return sandbox.GroupEvent{}
}

func participant(g *sandbox.GroupInfo, phone string) *sandbox.GroupParticipant {
	for _, p := range g.Participants {
		if p.JID == phone+"@s.whatsapp.net" {
			return &p
		}
	}
	return nil
}

func hasPhone(list []string, phone string) bool {
	return slices.Contains(list, phone+"@s.whatsapp.net")
}

// TestGroupParticipantOps adds, promotes, demotes and removes members from a real whatsmeow
// client: each answer is what UpdateGroupParticipants parses, the phones see the change and are
// told of it, and only admins may do it.
func TestGroupParticipantOps(t *testing.T) {
	n, alice, bob := aliceAndBob(t)
	n.addPhone("15550003333", "Carol")
	ctx := context.Background()
	bobPN := types.NewJID("15550002222", types.DefaultUserServer)
	carolPN := types.NewJID("15550003333", types.DefaultUserServer)
	info, err := alice.cli.CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Ops", Participants: []types.JID{bobPN}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	gid := info.JID
	waitEvent(bob, func(e *events.JoinedGroup) bool { return e.JID == gid })

	mark := bob.mark()
	res, err := alice.cli.UpdateGroupParticipants(ctx, gid, []types.JID{carolPN}, whatsmeow.ParticipantChangeAdd)
	if err != nil || len(res) != 1 || res[0].Error != 0 || res[0].PhoneNumber != carolPN {
		t.Fatalf("add = %+v, %v", res, err)
	}
	if g := n.phoneGroup("15550003333", gid); g == nil || participant(g, "15550003333") == nil {
		t.Fatalf("Carol's phone does not see herself in the group: %+v", g)
	}
	n.waitGroupEvent("15550003333", gid, func(e sandbox.GroupEvent) bool {
		return e.Type == "add" && hasPhone(e.Participants, "15550003333") && e.Author == "15550001111@s.whatsapp.net"
	})
	joined := waitEventSince(bob, mark, func(e *events.GroupInfo) bool { return e.JID == gid && len(e.Join) == 1 })
	if joined.Sender == nil {
		t.Fatalf("the add names no author: %+v", joined)
	}

	// The adder hears of its own change too, and its next group message reaches the new member.
	waitEvent(alice, func(e *events.GroupInfo) bool { return e.JID == gid && len(e.Join) == 1 })
	sent, err := alice.cli.SendMessage(ctx, gid, text("welcome Carol"))
	if err != nil {
		t.Fatalf("group send: %v", err)
	}
	n.waitPhoneMessage("15550003333", func(m phoneMessage) bool { return m.ID == sent.ID && m.Body == "welcome Carol" })

	res, err = alice.cli.UpdateGroupParticipants(ctx, gid, []types.JID{carolPN}, whatsmeow.ParticipantChangeAdd)
	if err != nil || len(res) != 1 || res[0].Error != 409 {
		t.Fatalf("adding a member again = %+v, %v; want error 409 for the participant", res, err)
	}
	if _, err := bob.cli.UpdateGroupParticipants(ctx, gid, []types.JID{carolPN}, whatsmeow.ParticipantChangePromote); !errors.Is(err, whatsmeow.ErrIQForbidden) {
		t.Fatalf("a non-admin promoting = %v, want forbidden", err)
	}

	mark = bob.mark()
	if res, err := alice.cli.UpdateGroupParticipants(ctx, gid, []types.JID{carolPN}, whatsmeow.ParticipantChangePromote); err != nil || res[0].Error != 0 {
		t.Fatalf("promote = %+v, %v", res, err)
	}
	if g := n.phoneGroup("15550002222", gid); !hasPhone(g.Admins, "15550003333") || participant(g, "15550003333").SuperAdmin {
		t.Fatalf("after the promotion Bob's phone shows admins %v", g.Admins)
	}
	waitEventSince(bob, mark, func(e *events.GroupInfo) bool { return e.JID == gid && len(e.Promote) == 1 })
	n.waitGroupEvent("15550003333", gid, func(e sandbox.GroupEvent) bool { return e.Type == "promote" })
	got, err := bob.cli.GetGroupInfo(ctx, gid)
	if err != nil {
		t.Fatalf("group info: %v", err)
	}
	for _, p := range got.Participants {
		if p.PhoneNumber == carolPN && !p.IsAdmin {
			t.Fatalf("whatsmeow's group info does not show Carol as admin: %+v", p)
		}
	}

	if res, err := alice.cli.UpdateGroupParticipants(ctx, gid, []types.JID{carolPN}, whatsmeow.ParticipantChangeDemote); err != nil || res[0].Error != 0 {
		t.Fatalf("demote = %+v, %v", res, err)
	}
	n.waitGroupEvent("15550003333", gid, func(e sandbox.GroupEvent) bool { return e.Type == "demote" })
	if g := n.phoneGroup("15550001111", gid); hasPhone(g.Admins, "15550003333") || !hasPhone(g.Admins, "15550001111") {
		t.Fatalf("after the demotion admins are %v", g.Admins)
	}

	if res, err := alice.cli.UpdateGroupParticipants(ctx, gid, []types.JID{carolPN}, whatsmeow.ParticipantChangeRemove); err != nil || res[0].Error != 0 {
		t.Fatalf("remove = %+v, %v", res, err)
	}
	if g := n.phoneGroup("15550003333", gid); g != nil {
		t.Fatalf("Carol's phone still sees the group after her removal: %+v", g)
	}
	n.waitGroupEvent("15550003333", gid, func(e sandbox.GroupEvent) bool {
		return e.Type == "remove" && hasPhone(e.Participants, "15550003333")
	})
}

// TestGroupSubjectDescriptionInviteLeave renames a group, sets its description (which
// SetGroupTopic finds in the group info first), shares and resets its invite link, has a phone
// join by it, and leaves.
func TestGroupSubjectDescriptionInviteLeave(t *testing.T) {
	n, alice, bob := aliceAndBob(t)
	n.addPhone("15550004444", "Dave")
	ctx := context.Background()
	bobPN := types.NewJID("15550002222", types.DefaultUserServer)
	info, err := alice.cli.CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Texts", Participants: []types.JID{bobPN}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	gid := info.JID
	waitEvent(bob, func(e *events.JoinedGroup) bool { return e.JID == gid })

	mark := bob.mark()
	if err := alice.cli.SetGroupName(ctx, gid, "Renamed"); err != nil {
		t.Fatalf("subject: %v", err)
	}
	if g := n.phoneGroup("15550002222", gid); g.Subject != "Renamed" {
		t.Fatalf("Bob's phone shows subject %q", g.Subject)
	}
	named := waitEventSince(bob, mark, func(e *events.GroupInfo) bool { return e.JID == gid && e.Name != nil })
	if named.Name.Name != "Renamed" {
		t.Fatalf("subject event %+v", named.Name)
	}
	n.waitGroupEvent("15550001111", gid, func(e sandbox.GroupEvent) bool { return e.Type == "subject" && e.Subject == "Renamed" })
	if err := alice.cli.SetGroupName(ctx, gid, strings.Repeat("x", 101)); !errors.Is(err, whatsmeow.ErrIQNotAcceptable) {
		t.Fatalf("a 101-character subject = %v, want not acceptable", err)
	}

	for _, topic := range []string{"First words", "Second words"} {
		if err := bob.cli.SetGroupTopic(ctx, gid, "", "", topic); err != nil {
			t.Fatalf("description %q: %v", topic, err)
		}
		n.waitGroupEvent("15550001111", gid, func(e sandbox.GroupEvent) bool { return e.Type == "description" && e.Description == topic })
	}
	got, err := alice.cli.GetGroupInfo(ctx, gid)
	if err != nil || got.Topic != "Second words" || got.TopicSetByPN.User != "15550002222" {
		t.Fatalf("group info topic %q by %v: %v", got.Topic, got.TopicSetByPN, err)
	}
	if g := n.phoneGroup("15550001111", gid); g.Description != "Second words" {
		t.Fatalf("Alice's phone shows description %q", g.Description)
	}
	if err := alice.cli.SetGroupTopic(ctx, gid, "stale", "", "Lost"); err == nil {
		t.Fatalf("a description over a stale one was taken")
	}

	if _, err := bob.cli.GetGroupInviteLink(ctx, gid, false); !errors.Is(err, whatsmeow.ErrGroupInviteLinkUnauthorized) {
		t.Fatalf("a non-admin's invite link = %v, want unauthorized", err)
	}
	link, err := alice.cli.GetGroupInviteLink(ctx, gid, false)
	if err != nil || !strings.HasPrefix(link, whatsmeow.InviteLinkPrefix) {
		t.Fatalf("invite link %q: %v", link, err)
	}
	if again, _ := alice.cli.GetGroupInviteLink(ctx, gid, false); again != link {
		t.Fatalf("the link changed without a reset: %q then %q", link, again)
	}
	reset, err := alice.cli.GetGroupInviteLink(ctx, gid, true)
	if err != nil || reset == link {
		t.Fatalf("reset gave %q (was %q): %v", reset, link, err)
	}
	if _, err := bob.cli.JoinGroupWithLink(ctx, link); !errors.Is(err, whatsmeow.ErrInviteLinkInvalid) {
		t.Fatalf("joining by the revoked link = %v, want invalid", err)
	}
	preview, err := bob.cli.GetGroupInfoFromLink(ctx, reset)
	if err != nil || preview.JID != gid || preview.Name != "Renamed" {
		t.Fatalf("group info from link %+v: %v", preview, err)
	}

	mark = alice.mark()
	var joined map[string]string
	n.mustCall("POST", "/sandbox/phones/15550004444/groups/join", map[string]string{"code": reset}, &joined)
	if joined["group"] != gid.String() {
		t.Fatalf("Dave joined %v", joined)
	}
	if g := n.phoneGroup("15550001111", gid); participant(g, "15550004444") == nil {
		t.Fatalf("Alice's phone does not see Dave: %+v", g.Participants)
	}
	waitEventSince(alice, mark, func(e *events.GroupInfo) bool { return e.JID == gid && len(e.Join) == 1 && e.JoinReason == "invite" })

	mark = alice.mark()
	if err := bob.cli.LeaveGroup(ctx, gid); err != nil {
		t.Fatalf("leave: %v", err)
	}
	if g := n.phoneGroup("15550002222", gid); g != nil {
		t.Fatalf("Bob's phone still sees the group it left")
	}
	waitEventSince(alice, mark, func(e *events.GroupInfo) bool { return e.JID == gid && len(e.Leave) == 1 })
	if err := bob.cli.LeaveGroup(ctx, gid); !errors.Is(err, whatsmeow.ErrIQForbidden) {
		t.Fatalf("leaving again = %v, want forbidden", err)
	}
}

// TestPhoneGroupActions has phones do group changes over the admin API: the linked client sees them.
func TestPhoneGroupActions(t *testing.T) {
	n, alice, _ := aliceAndBob(t)
	n.addPhone("15550003333", "Carol")
	var created map[string]string
	n.mustCall("POST", "/sandbox/phones/15550002222/groups", map[string]any{"name": "Phones", "members": []string{"15550003333"}}, &created)
	gid, _ := types.ParseJID(created["group"])
	base := "/sandbox/phones/15550002222/groups/" + gid.String()

	mark := alice.mark()
	var res struct{ Participants []sandbox.ParticipantResult }
	n.mustCall("POST", base+"/participants", map[string]any{"action": "add", "phones": []string{"15550001111"}}, &res)
	if len(res.Participants) != 1 || res.Participants[0].Error != 0 {
		t.Fatalf("add = %+v", res)
	}
	waitEventSince(alice, mark, func(e *events.GroupInfo) bool { return e.JID == gid && len(e.Join) == 1 })
	n.mustCall("POST", base+"/participants", map[string]any{"action": "promote", "phones": []string{"15550001111"}}, &res)
	waitEventSince(alice, mark, func(e *events.GroupInfo) bool { return e.JID == gid && len(e.Promote) == 1 })
	n.mustCall("POST", base+"/subject", map[string]string{"subject": "By phone"}, nil)
	waitEventSince(alice, mark, func(e *events.GroupInfo) bool { return e.Name != nil && e.Name.Name == "By phone" })
	n.mustCall("POST", base+"/description", map[string]string{"description": "Set by a phone"}, nil)
	waitEventSince(alice, mark, func(e *events.GroupInfo) bool { return e.Topic != nil && e.Topic.Topic == "Set by a phone" })

	if code := n.call("POST", "/sandbox/phones/15550003333/groups/"+gid.String()+"/participants",
		map[string]any{"action": "remove", "phones": []string{"15550001111"}}, nil); code != 403 {
		t.Fatalf("a non-admin phone removing = %d, want 403", code)
	}
	if code := n.call("POST", base+"/participants", map[string]any{"action": "kick", "phones": []string{"15550001111"}}, nil); code != 400 {
		t.Fatalf("an unknown action = %d, want 400", code)
	}
	var link map[string]string
	n.mustCall("POST", base+"/invite", nil, &link)
	if !strings.HasPrefix(link["link"], whatsmeow.InviteLinkPrefix) || link["code"] == "" {
		t.Fatalf("invite %v", link)
	}
	n.mustCall("POST", base+"/participants", map[string]any{"action": "remove", "phones": []string{"15550001111"}}, &res)
	waitEventSince(alice, mark, func(e *events.GroupInfo) bool { return e.JID == gid && len(e.Leave) == 1 })
	if g := n.phoneGroup("15550001111", gid); g != nil {
		t.Fatalf("Alice's phone still sees the group after her removal")
	}
	n.mustCall("POST", base+"/leave", nil, nil)
	if g := n.phoneGroup("15550003333", gid); participant(g, "15550002222") != nil {
		t.Fatalf("Bob is still in the group after leaving: %+v", g.Participants)
	}
}

// A persistent sandbox keeps a group's admins, description and invite code across restarts.
func TestGroupStatePersists(t *testing.T) {
	n := startPersistent(t)
	for phone, name := range map[string]string{"15550002222": "Bob", "15550003333": "Carol", "15550004444": "Dave"} {
		n.addPhone(phone, name)
	}
	var created map[string]string
	n.mustCall("POST", "/sandbox/phones/15550002222/groups", map[string]any{"name": "Kept", "members": []string{"15550003333"}}, &created)
	gid, _ := types.ParseJID(created["group"])
	base := "/sandbox/phones/15550002222/groups/" + gid.String()
	n.mustCall("POST", base+"/participants", map[string]any{"action": "promote", "phones": []string{"15550003333"}}, nil)
	n.mustCall("POST", base+"/description", map[string]string{"description": "Survives"}, nil)
	var link map[string]string
	n.mustCall("POST", base+"/invite", nil, &link)
	n.restart()
	g := n.phoneGroup("15550003333", gid)
	if g == nil || g.Description != "Survives" || !hasPhone(g.Admins, "15550003333") || !hasPhone(g.Admins, "15550002222") {
		t.Fatalf("after the restart the group is %+v", g)
	}
	n.mustCall("POST", "/sandbox/phones/15550004444/groups/join", map[string]string{"code": link["code"]}, nil)
	if g := n.phoneGroup("15550004444", gid); participant(g, "15550004444") == nil {
		t.Fatalf("joining by the code kept across the restart failed: %+v", g)
	}
}
