package cmd

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/jpeg"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

type dialogOut struct {
	ID       string `json:"id"`
	Phone    string `json:"phone"`
	Name     string `json:"name"`
	Image    string `json:"image"`
	LastTime int64  `json:"last_time"`
	Unread   int    `json:"unread"`
	Metadata *struct {
		IsGroup      bool     `json:"isGroup"`
		Participants []string `json:"participants"`
		Admins       []string `json:"admins"`
		Subject      string   `json:"subject"`
	} `json:"metadata"`
}

func getDialogs(t *testing.T, base, query string) ([]dialogOut, int) {
	t.Helper()
	code, r := callStatus(t, "GET", base+"/dialogs"+query, "")
	if code != http.StatusOK {
		t.Fatalf("GET /dialogs%s: %d %v", query, code, r)
	}
	raw, _ := json.Marshal(r["dialogs"])
	var out []dialogOut
	_ = json.Unmarshal(raw, &out)
	total, _ := r["total"].(float64)
	return out, int(total)
}

func dialogByID(ds []dialogOut, id string) (dialogOut, bool) {
	for _, d := range ds {
		if d.ID == id {
			return d, true
		}
	}
	return dialogOut{}, false
}

// The chat surface against real whatsmeow clients on the sandbox, on both databases: the chat list
// after messages both ways (names, unread counts, order, a group's metadata), readChat seen as
// read on the phone, typing seen in the phone's presence, checkPhone, contacts and POST /me seen
// by the network.
func TestChatsAgainstSandbox(t *testing.T) { onEachDatabase(t, testChatsAgainstSandbox) }

func testChatsAgainstSandbox(t *testing.T, database string) {
	sb := startSandbox(t)
	sandboxCall(t, sb, "POST", "/sandbox/phones", map[string]string{"phone": "15550003333", "name": "Carol"}, nil)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		allowPrivate: true, maxFileBytes: 1 << 20, mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour,
		shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()
	if code, r := callStatus(t, "POST", base+"/typing", `{"phone":"15550002222","state":"composing"}`); code != http.StatusServiceUnavailable {
		t.Fatalf("typing before login = %d %v, want 503", code, r)
	}
	pairAgainstSandbox(t, base, sb)

	const bob, carol = "15550002222@c.us", "15550003333@c.us"
	for _, body := range []string{"one", "two"} {
		sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": body}, nil)
	}
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550003333/messages", map[string]string{"to": "15550001111", "body": "hi"}, nil)
	if r := call(t, "POST", base+"/sendMessage", `{"phone":"15550003333","body":"hello Carol"}`); r["sent"] != true {
		t.Fatalf("sendMessage = %v", r)
	}
	var ds []dialogOut
	eventually(t, "Bob's and Carol's chats with their unread counts", func() bool {
		ds, _ = getDialogs(t, base, "")
		b, okB := dialogByID(ds, bob)
		c, okC := dialogByID(ds, carol)
		return okB && okC && b.Unread == 2 && c.Unread == 1 && b.Name == "Bob" && c.Name == "Carol" && c.LastTime >= b.LastTime
	})
	for i := 1; i < len(ds); i++ {
		if ds[i].LastTime > ds[i-1].LastTime {
			t.Errorf("dialogs not newest first: %+v", ds)
		}
	}
	if page, total := getDialogs(t, base, "?limit=1&page=1"); total != 2 || len(page) != 1 || page[0].ID != ds[1].ID {
		t.Errorf("page 1 of 1 = %+v (total %d), want %s", page, total, ds[1].ID)
	}
	if code, _ := callStatus(t, "GET", base+"/dialogs?limit=0", ""); code != http.StatusUnprocessableEntity {
		t.Errorf("limit=0: %d, want 422", code)
	}
	if code, r := callStatus(t, "GET", base+"/dialog?chatId=15550002222@c.us", ""); code != http.StatusOK || r["name"] != "Bob" {
		t.Errorf("dialog = %d %v", code, r)
	}
	if code, _ := callStatus(t, "GET", base+"/dialog?chatId=19990000000@c.us", ""); code != http.StatusNotFound {
		t.Errorf("unknown dialog: %d, want 404", code)
	}

	// A group Bob creates and writes in: its metadata in /dialog.
	var created map[string]string
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/groups", map[string]any{"name": "Club", "members": []string{"15550001111"}}, &created)
	gid := created["group"]
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": gid, "body": "in the club"}, nil)
	groupID := strings.TrimSuffix(gid, "@g.us") + "@g.us"
	eventually(t, "the group in the chat list", func() bool {
		ds, _ = getDialogs(t, base, "")
		g, ok := dialogByID(ds, groupID)
		return ok && g.Unread == 1 && g.Metadata != nil && g.Metadata.IsGroup
	})
	code, r := callStatus(t, "GET", base+"/dialog?chatId="+groupID, "")
	raw, _ := json.Marshal(r)
	var g dialogOut
	_ = json.Unmarshal(raw, &g)
	if code != http.StatusOK || g.Name != "Club" || g.Metadata == nil || len(g.Metadata.Participants) != 2 ||
		len(g.Metadata.Admins) == 0 || !strings.Contains(strings.Join(g.Metadata.Admins, ","), "15550002222") {
		t.Errorf("group dialog = %d %s", code, raw)
	}

	// readChat: receipts for Bob's two messages; his phone shows them read.
	if code, r := callStatus(t, "POST", base+"/readChat", `{"phone":"15550002222"}`); code != http.StatusOK || r["messages"] != float64(2) {
		t.Fatalf("readChat = %d %v", code, r)
	}
	eventually(t, "Bob's messages read on his phone", func() bool {
		var msgs struct{ Messages []sandbox.PhoneMessage }
		sandboxCall(t, sb, "GET", "/sandbox/phones/15550002222/messages", nil, &msgs)
		read := 0
		for _, m := range msgs.Messages {
			if m.FromMe && (m.Body == "one" || m.Body == "two") && m.Status == "read" {
				read++
			}
		}
		return read == 2
	})
	if d, _ := dialogByID(func() []dialogOut { ds, _ := getDialogs(t, base, ""); return ds }(), bob); d.Unread != 0 {
		t.Errorf("Bob's chat after readChat: %+v", d)
	}
	if code, r := callStatus(t, "POST", base+"/readChat", `{"chatId":"15550002222@c.us"}`); code != http.StatusOK || r["messages"] != float64(0) {
		t.Errorf("readChat again = %d %v", code, r)
	}
	// In a group, the receipt names the author: Bob's phone shows his group message read.
	if code, r := callStatus(t, "POST", base+"/readChat", `{"chatId":"`+groupID+`"}`); code != http.StatusOK || r["messages"] != float64(1) {
		t.Fatalf("readChat of the group = %d %v", code, r)
	}
	eventually(t, "Bob's group message read on his phone", func() bool {
		var msgs struct{ Messages []sandbox.PhoneMessage }
		sandboxCall(t, sb, "GET", "/sandbox/phones/15550002222/messages", nil, &msgs)
		for _, m := range msgs.Messages {
			if m.FromMe && m.Body == "in the club" && m.Status == "read" {
				return true
			}
		}
		return false
	})
	if code, _ := callStatus(t, "POST", base+"/readChat", `{}`); code != http.StatusBadRequest {
		t.Errorf("readChat without a chat: %d, want 400", code)
	}

	// typing: each state reaches Bob's phone.
	for _, state := range []string{"composing", "recording", "paused"} {
		if code, r := callStatus(t, "POST", base+"/typing", `{"phone":"15550002222","state":"`+state+`"}`); code != http.StatusOK {
			t.Fatalf("typing %s = %d %v", state, code, r)
		}
		eventually(t, "Bob's phone sees "+state, func() bool {
			var p sandbox.PhonePresence
			sandboxCall(t, sb, "GET", "/sandbox/phones/15550002222/presence", nil, &p)
			n := len(p.ChatStates)
			return n > 0 && p.ChatStates[n-1].State == state && strings.Contains(p.ChatStates[n-1].From, "15550001111")
		})
	}
	if code, _ := callStatus(t, "POST", base+"/typing", `{"phone":"15550002222","state":"dancing"}`); code != http.StatusUnprocessableEntity {
		t.Errorf("bad typing state: %d, want 422", code)
	}
	if code, _ := callStatus(t, "POST", base+"/typing", `{"phone":"15550002222"}`); code != http.StatusBadRequest {
		t.Errorf("typing without a state: %d, want 400", code)
	}

	// checkPhone: a sandbox phone exists (with its LID), an unknown number does not.
	code, r = callStatus(t, "POST", base+"/checkPhone", `{"phone":"15550003333"}`)
	if code != http.StatusOK || r["result"] != "exists" || r["chatId"] != carol || !strings.HasSuffix(r["lid"].(string), "@lid") {
		t.Errorf("checkPhone Carol = %d %v", code, r)
	}
	if code, r := callStatus(t, "GET", base+"/checkPhone?phone=19998887777", ""); code != http.StatusOK || r["result"] != "not exists" {
		t.Errorf("checkPhone unknown = %d %v", code, r)
	}
	if code, _ := callStatus(t, "GET", base+"/checkPhone?phone=abc", ""); code != http.StatusUnprocessableEntity {
		t.Errorf("checkPhone abc: %d, want 422", code)
	}

	// contacts: Bob and Carol with their names.
	code, r = callStatus(t, "GET", base+"/contacts", "")
	raw, _ = json.Marshal(r["contacts"])
	if code != http.StatusOK || !strings.Contains(string(raw), `"id":"15550002222@c.us","name":"Bob"`) ||
		!strings.Contains(string(raw), `"id":"15550003333@c.us","name":"Carol"`) {
		t.Errorf("contacts = %d %s", code, raw)
	}

	// POST /me: about, name and picture reach the network.
	var jpg bytes.Buffer
	_ = jpeg.Encode(&jpg, image.NewGray(image.Rect(0, 0, 8, 8)), nil)
	body := `{"about":"Busy building","name":"Instance Two","picture":"data:image/jpeg;base64,` +
		base64.StdEncoding.EncodeToString(jpg.Bytes()) + `"}`
	if code, r := callStatus(t, "POST", base+"/me", body); code != http.StatusOK || r["set"] != true {
		t.Fatalf("POST /me = %d %v", code, r)
	}
	var info sandbox.PhoneInfo
	sandboxCall(t, sb, "GET", "/sandbox/phones/15550001111", nil, &info)
	if info.About != "Busy building" || info.Name != "Instance Two" || info.PictureID == "" {
		t.Errorf("the account on the network after POST /me: %+v", info)
	}
	if me := call(t, "GET", base+"/me", ""); me["name"] != "Instance Two" {
		t.Errorf("GET /me = %v", me)
	}
	if code, _ := callStatus(t, "POST", base+"/me", `{"picture":"data:image/png;base64,iVBORw0KGgo="}`); code != http.StatusUnsupportedMediaType && code != http.StatusUnprocessableEntity {
		t.Errorf("a PNG picture: %d, want 415 or 422", code)
	}
	if code, _ := callStatus(t, "POST", base+"/me", `{}`); code != http.StatusBadRequest {
		t.Errorf("an empty POST /me: %d, want 400", code)
	}
}
