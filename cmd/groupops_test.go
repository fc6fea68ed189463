package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// phoneGroupView is the sandbox phone's view of group gid (nil: the phone is not in it).
func phoneGroupView(t testing.TB, sb, phone, gid string) *sandbox.GroupInfo {
	t.Helper()
	var out struct{ Groups []sandbox.GroupInfo }
	sandboxCall(t, sb, "GET", "/sandbox/phones/"+phone+"/groups", nil, &out)
	want := strings.TrimSuffix(gid, "@g.us") + "@g.us"
	for _, g := range out.Groups {
		if g.ID == want {
			return &g
		}
	}
	return nil
}

func inGroupView(g *sandbox.GroupInfo, phone string) bool {
	if g == nil {
		return false
	}
	for _, p := range g.Participants {
		if p.JID == phone+"@s.whatsapp.net" {
			return true
		}
	}
	return false
}

// infoParticipant finds a participant of a GET /groupInfo answer by phone.
func infoParticipant(info map[string]any, phone string) map[string]any {
	parts, _ := info["participants"].([]any)
	for _, raw := range parts {
		if p, _ := raw.(map[string]any); p["chatId"] == phone+"@c.us" {
			return p
		}
	}
	return nil
}

// hookLog collects what the webhook receives.
type hookLog struct {
	mu      sync.Mutex
	updates []chat.ChatUpdate
	acks    []chat.Ack
}

func (h *hookLog) handler(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p chat.WebhookPayload
	_ = json.Unmarshal(body, &p)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.updates = append(h.updates, p.ChatUpdate...)
	h.acks = append(h.acks, p.Ack...)
}

func (h *hookLog) hasUpdate(ok func(chat.ChatUpdate) bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, u := range h.updates {
		if ok(u) {
			return true
		}
	}
	return false
}

func (h *hookLog) hasAck(ok func(chat.Ack) bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.acks {
		if ok(a) {
			return true
		}
	}
	return false
}

// The group operations end to end against the sandbox, on SQLite and on PostgreSQL: the instance
// creates a group, adds, promotes and renames, describes, shares an invite link a phone joins by,
// removes, joins a phone's group by code and leaves; each checked on the phones and in
// /groupInfo. Bad inputs are refused, actions and messages queue apart, action outcomes come
// as typed acks, and changes a phone makes reach the webhook's chatUpdate.
func TestGroupOperations(t *testing.T) { onEachDatabase(t, testGroupOperations) }

func testGroupOperations(t *testing.T, database string) {
	hooks := &hookLog{}
	rcv := httptest.NewServer(http.HandlerFunc(hooks.handler))
	defer rcv.Close()
	sb := startSandbox(t)
	for phone, name := range map[string]string{"15550003333": "Carol", "15550004444": "Dave"} {
		sandboxCall(t, sb, "POST", "/sandbox/phones", map[string]string{"phone": phone, "name": name}, nil)
	}
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		webhookURL: rcv.URL, instanceName: "groups", allowPrivate: true, maxFileBytes: 1 << 20, mediaRetention: time.Hour,
		webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()
	call(t, "POST", base+"/settings", `{"ackNotificationsOn":true,"chatUpdateOn":true}`)

	// Before pairing nothing is sent: the queues hold what is asked, apart.
	call(t, "POST", base+"/sendMessage", `{"phone":"15550002222","body":"waits"}`)
	queued := call(t, "POST", base+"/setGroupSubject", `{"groupId":"120363000000000001@g.us","subject":"waits too"}`)
	if queued["queued"] != true || queued["status"] != "queued" || queued["actionId"] == nil {
		t.Fatalf("an action before pairing = %v", queued)
	}
	if acts := call(t, "GET", base+"/showActionsQueue", ""); acts["totalActions"] != 1.0 {
		t.Fatalf("showActionsQueue = %v", acts)
	}
	if msgs := call(t, "GET", base+"/showMessagesQueue", ""); msgs["totalMessages"] != 1.0 ||
		msgs["first100"].([]any)[0].(map[string]any)["type"] != "text" {
		t.Fatalf("showMessagesQueue = %v", msgs)
	}
	if cl := call(t, "POST", base+"/clearActionsQueue", ""); cl["message"] != "Cleared 1 action" {
		t.Fatalf("clearActionsQueue = %v", cl)
	}
	if msgs := call(t, "GET", base+"/showMessagesQueue", ""); msgs["totalMessages"] != 1.0 {
		t.Fatalf("clearing actions touched the messages: %v", msgs)
	}
	call(t, "POST", base+"/clearMessagesQueue", "")
	if code, _ := callStatus(t, "GET", base+"/groupInfo?groupId=120363000000000001@g.us", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("groupInfo before login = %d, want 503", code)
	}

	pairAgainstSandbox(t, base, sb)
	created := call(t, "POST", base+"/group", `{"groupName":"Ops","phones":"15550002222"}`)
	gid, _ := created["chatId"].(string)
	if created["created"] != true || gid == "" {
		t.Fatalf("group = %v", created)
	}
	for _, bad := range []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/addGroupParticipant", `{"groupId":"` + gid + `"}`, 400},
		{"POST", "/addGroupParticipant", `{"participantPhone":"15550003333"}`, 400},
		{"POST", "/addGroupParticipant", `{"groupId":"15550002222@c.us","participantPhone":"15550003333"}`, 422},
		{"POST", "/removeGroupParticipant", `{"groupId":"` + gid + `","participantPhone":"abc"}`, 422},
		{"POST", "/promoteGroupParticipant", `{"groupId":"` + gid + `","participantChatId":"` + gid + `"}`, 422},
		{"POST", "/setGroupSubject", `{"groupId":"` + gid + `"}`, 400},
		{"POST", "/setGroupSubject", `{"groupId":"` + gid + `","subject":"` + strings.Repeat("s", 101) + `"}`, 422},
		{"POST", "/setGroupDescription", `{"groupId":"` + gid + `"}`, 400},
		{"POST", "/setGroupDescription", `{"groupId":"` + gid + `","description":"` + strings.Repeat("d", 2049) + `"}`, 422},
		{"POST", "/joinGroup", `{}`, 400},
		{"POST", "/joinGroup", `{"code":"https://chat.whatsapp.com/no way"}`, 422},
		{"POST", "/leaveGroup", `{}`, 400},
		{"GET", "/groupInfo", ``, 400},
		{"GET", "/groupInfo?groupId=nope", ``, 422},
		{"GET", "/groupInfo?groupId=120363000000000001@g.us", ``, 404},
		{"POST", "/groupInviteLink", `{}`, 400},
	} {
		if code, body := callStatus(t, bad.method, base+bad.path, bad.body); code != bad.code {
			t.Errorf("%s %s %s = %d %v, want %d", bad.method, bad.path, bad.body, code, body, bad.code)
		}
	}
	if acts := call(t, "GET", base+"/showActionsQueue", ""); acts["totalActions"] != 0.0 {
		t.Fatalf("refused actions were queued: %v", acts)
	}

	add := call(t, "POST", base+"/addGroupParticipant", `{"groupId":"`+gid+`","participantPhone":"15550003333"}`)
	if add["status"] != "sent" || !strings.Contains(fmt.Sprint(add["participants"]), "15550003333@c.us") {
		t.Fatalf("addGroupParticipant = %v", add)
	}
	if !inGroupView(phoneGroupView(t, sb, "15550003333", gid), "15550003333") {
		t.Fatal("Carol's phone does not see the group after she was added")
	}
	welcome := call(t, "POST", base+"/sendMessage", `{"chatId":"`+gid+`","body":"welcome Carol"}`)
	welcomeID, _ := welcome["id"].(string)
	eventually(t, "the group message on the new member's phone", func() bool {
		var carol struct{ Messages []sandbox.PhoneMessage }
		sandboxCall(t, sb, "GET", "/sandbox/phones/15550003333/messages", nil, &carol)
		for _, m := range carol.Messages {
			if m.Body == "welcome Carol" && strings.HasSuffix(welcomeID, "_"+m.ID) {
				return true
			}
		}
		return false
	})
	addQN := add["queueNumber"]
	eventually(t, "a typed sent ack for the add", func() bool {
		return hooks.hasAck(func(a chat.Ack) bool {
			return float64(a.QueueNumber) == addQN && a.Type == "group_participants" && a.Status == chat.AckSent
		})
	})
	code, again := callStatus(t, "POST", base+"/addGroupParticipant", `{"groupId":"`+gid+`","participantPhone":"15550003333"}`)
	if code != http.StatusUnprocessableEntity || again["status"] != "failed" || !strings.Contains(fmt.Sprint(again["error"]), "409") {
		t.Fatalf("adding a member again = %d %v", code, again)
	}
	eventually(t, "a typed failed ack", func() bool {
		return hooks.hasAck(func(a chat.Ack) bool {
			return float64(a.QueueNumber) == again["queueNumber"] && a.Type == "group_participants" && a.Status == chat.AckFailed
		})
	})

	if r := call(t, "POST", base+"/promoteGroupParticipant", `{"groupId":"`+gid+`","participantChatId":"15550003333@c.us"}`); r["status"] != "sent" {
		t.Fatalf("promote = %v", r)
	}
	info := call(t, "GET", base+"/groupInfo?groupId="+gid, "")
	if p := infoParticipant(info, "15550003333"); p == nil || p["isAdmin"] != true || p["isSuperAdmin"] == true {
		t.Fatalf("groupInfo after the promotion: %v", info)
	}
	if p := infoParticipant(info, "15550001111"); p == nil || p["isSuperAdmin"] != true || info["owner"] != "15550001111@c.us" {
		t.Fatalf("groupInfo does not show the account as owner: %v", info)
	}
	if g := phoneGroupView(t, sb, "15550002222", gid); len(g.Admins) != 2 {
		t.Fatalf("Bob's phone sees admins %v", g.Admins)
	}
	if r := call(t, "POST", base+"/demoteGroupParticipant", `{"groupId":"`+gid+`","participantPhone":"15550003333"}`); r["status"] != "sent" {
		t.Fatalf("demote = %v", r)
	}
	if p := infoParticipant(call(t, "GET", base+"/groupInfo?groupId="+gid, ""), "15550003333"); p["isAdmin"] == true {
		t.Fatalf("Carol is still admin after the demotion: %v", p)
	}
	call(t, "POST", base+"/promoteGroupParticipant", `{"groupId":"`+gid+`","participantPhone":"15550003333"}`)

	if r := call(t, "POST", base+"/setGroupSubject", `{"groupId":"`+gid+`","subject":"Renamed"}`); r["status"] != "sent" {
		t.Fatalf("setGroupSubject = %v", r)
	}
	if g := phoneGroupView(t, sb, "15550002222", gid); g.Subject != "Renamed" {
		t.Fatalf("Bob's phone shows subject %q", g.Subject)
	}
	if r := call(t, "POST", base+"/setGroupDescription", `{"groupId":"`+gid+`","description":"About us"}`); r["status"] != "sent" {
		t.Fatalf("setGroupDescription = %v", r)
	}
	if info := call(t, "GET", base+"/groupInfo?groupId="+gid, ""); info["subject"] != "Renamed" || info["description"] != "About us" {
		t.Fatalf("groupInfo after the texts: %v", info)
	}
	if g := phoneGroupView(t, sb, "15550003333", gid); g.Description != "About us" {
		t.Fatalf("Carol's phone shows description %q", g.Description)
	}

	link := call(t, "POST", base+"/groupInviteLink", `{"groupId":"`+gid+`"}`)
	url, _ := link["link"].(string)
	if !strings.HasPrefix(url, "https://chat.whatsapp.com/") {
		t.Fatalf("groupInviteLink = %v", link)
	}
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550004444/groups/join", map[string]string{"code": url}, nil)
	if p := infoParticipant(call(t, "GET", base+"/groupInfo?groupId="+gid, ""), "15550004444"); p == nil {
		t.Fatal("groupInfo does not show Dave after he joined by the link")
	}
	eventually(t, "Dave's join in the webhook's chatUpdate", func() bool {
		return hooks.hasUpdate(func(u chat.ChatUpdate) bool {
			return u.ChatID == gid && u.Type == chat.UpdateParticipantsAdded && u.Author == "15550004444@c.us" &&
				len(u.Participants) == 1 && u.Participants[0] == "15550004444@c.us"
		})
	})
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550003333/groups/"+gid+"/subject", map[string]string{"subject": "By Carol"}, nil)
	eventually(t, "Carol's rename in the webhook's chatUpdate", func() bool {
		return hooks.hasUpdate(func(u chat.ChatUpdate) bool {
			return u.ChatID == gid && u.Type == chat.UpdateSubject && u.Subject == "By Carol" && u.Author == "15550003333@c.us"
		})
	})

	if r := call(t, "POST", base+"/removeGroupParticipant", `{"groupId":"`+gid+`","participantPhone":"15550004444"}`); r["status"] != "sent" {
		t.Fatalf("remove = %v", r)
	}
	if phoneGroupView(t, sb, "15550004444", gid) != nil {
		t.Fatal("Dave's phone still sees the group after his removal")
	}

	// A phone's group, joined by its code.
	var bobs map[string]string
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/groups", map[string]any{"name": "Bobs", "members": []string{"15550003333"}}, &bobs)
	var inv map[string]string
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/groups/"+bobs["group"]+"/invite", nil, &inv)
	joined := call(t, "POST", base+"/joinGroup", `{"code":"`+inv["code"]+`"}`)
	bobsID := strings.TrimSuffix(bobs["group"], "@g.us") + "@g.us"
	if joined["status"] != "sent" || joined["chatId"] != bobsID {
		t.Fatalf("joinGroup = %v, want chatId %s", joined, bobsID)
	}
	if !inGroupView(phoneGroupView(t, sb, "15550002222", bobsID), "15550001111") {
		t.Fatal("Bob's phone does not see the account in his group")
	}

	var carols map[string]string
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550003333/groups", map[string]any{"name": "Carols", "members": []string{"15550001111"}}, &carols)
	carolsID := strings.TrimSuffix(carols["group"], "@g.us") + "@g.us"
	eventually(t, "the account put in Carol's group, in chatUpdate", func() bool {
		return hooks.hasUpdate(func(u chat.ChatUpdate) bool {
			return u.ChatID == carolsID && u.Type == chat.UpdateParticipantsAdded && u.Author == "15550003333@c.us" &&
				len(u.Participants) == 1 && u.Participants[0] == "15550001111@c.us" && u.Subject == "Carols"
		})
	})

	if r := call(t, "POST", base+"/leaveGroup", `{"groupId":"`+gid+`"}`); r["status"] != "sent" {
		t.Fatalf("leaveGroup = %v", r)
	}
	if inGroupView(phoneGroupView(t, sb, "15550002222", gid), "15550001111") {
		t.Fatal("Bob's phone still sees the account in the group it left")
	}
	if code, _ := callStatus(t, "GET", base+"/groupInfo?groupId="+gid, ""); code != http.StatusForbidden {
		t.Fatalf("groupInfo of a group left = %d, want 403", code)
	}
}
