package cmd

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// clientCall is one request as an integration written for chat-api.com makes it.
type clientCall struct {
	name, path, ctype, body string
	bearer                  bool
}

// rawCall sends a request exactly as given (no Content-Type or token added) and decodes the answer.
func rawCall(t *testing.T, base string, c clientCall) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+c.path, strings.NewReader(c.body))
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if c.bearer {
		req.Header.Set("Authorization", "Bearer tok")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var v map[string]any
	_ = json.Unmarshal(raw, &v)
	return resp.StatusCode, v
}

func multipartFields(fields ...string) (string, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = w.WriteField(fields[i], fields[i+1])
	}
	_ = w.Close()
	return w.FormDataContentType(), b.String()
}

// Code written for chat-api.com works unchanged against the instance once the base URL is
// replaced: PHP, Python and Node request shapes reach the phone, on SQLite and PostgreSQL; every
// message carries chatName in /messages and in webhooks.
func TestChatAPIClientsAgainstSandbox(t *testing.T) { onEachDatabase(t, testChatAPIClients) }

func testChatAPIClients(t *testing.T, database string) {
	var mu sync.Mutex
	var hooks []map[string]any // raw payloads: what a PHP or Python receiver decodes
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		_ = json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		hooks = append(hooks, p)
		mu.Unlock()
	}))
	defer rcv.Close()
	sb := startSandbox(t)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		webhookURL: rcv.URL, instanceName: "demo", allowPrivate: true, maxFileBytes: 1 << 20, mediaRetention: time.Hour,
		webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()
	pairAgainstSandbox(t, base, sb)

	mpType, mpBody := multipartFields("phone", "15550002222", "body", "php curl multipart")
	calls := []clientCall{
		{name: "PHP file_get_contents, JSON, chat-api.com base URL", path: "/instance12345/sendMessage?token=tok",
			ctype: "application/json", body: `{"phone":"15550002222","body":"php json"}`},
		{name: "PHP curl http_build_query, old /message", path: "/instance12345/message?token=tok",
			ctype: "application/x-www-form-urlencoded", body: url.Values{"phone": {"+15550002222"}, "body": {"php form & co"}}.Encode()},
		{name: "PHP curl with an array (multipart)", path: "/sendMessage?token=tok", ctype: mpType, body: mpBody},
		{name: "PHP Guzzle json, one-time code as a number", path: "/message?token=tok", ctype: "application/json",
			body: `{"phone":15550002222,"body":40213}`},
		{name: "Python requests json=", path: "/sendMessage?token=tok", ctype: "application/json",
			body: `{"chatId": "15550002222@c.us", "body": "python json"}`},
		{name: "Python requests data=dict", path: "/instance7/sendMessage?token=tok", ctype: "application/x-www-form-urlencoded",
			body: "chatId=15550002222%40c.us&body=python+form"},
		{name: "Python data=json.dumps without Content-Type", path: "/sendMessage?token=tok",
			body: `{"phone": "+1 555 000 2222", "body": "python no content type"}`},
		{name: "Node axios, Bearer", path: "/instance12345/sendMessage", ctype: "application/json;charset=utf-8", bearer: true,
			body: `{"chatId":"15550002222@s.whatsapp.net","body":"node axios"}`},
		{name: "Node fetch with a string body (text/plain)", path: "/message?token=tok", ctype: "text/plain;charset=UTF-8",
			body: `{"phone":"15550002222","body":"node fetch"}`},
	}
	want := map[string]string{} // WhatsApp id → body Bob must see
	for i, c := range calls {
		code, r := rawCall(t, base, c)
		id, _ := r["id"].(string)
		if code != http.StatusOK || r["sent"] != true || !strings.HasPrefix(id, "true_15550002222@c.us_") {
			t.Fatalf("%s: %d %v", c.name, code, r)
		}
		body := map[int]string{0: "php json", 1: "php form & co", 2: "php curl multipart", 3: "40213", 4: "python json",
			5: "python form", 6: "python no content type", 7: "node axios", 8: "node fetch"}[i]
		want[id[strings.LastIndex(id, "_")+1:]] = body
	}
	// Groups: phones as one string (the tutorial bot), and chatIds as one string, with a numeric text.
	groups := map[string]string{} // group chat id → subject
	for i, c := range []clientCall{
		{path: "/instance12345/group?token=tok", ctype: "application/json",
			body: `{"groupName":"Compat one","phones":"15550002222","messageText":"group by phones string"}`},
		{path: "/group", ctype: "application/x-www-form-urlencoded", bearer: true,
			body: "groupName=Compat+two&chatIds%5B0%5D=15550002222%40c.us&messageText=777"},
	} {
		code, r := rawCall(t, base, c)
		gid, _ := r["chatId"].(string)
		if code != http.StatusOK || r["created"] != true || !strings.HasSuffix(gid, "@g.us") {
			t.Fatalf("group %d: %d %v", i, code, r)
		}
		groups[gid] = []string{"Compat one", "Compat two"}[i]
		want["group:"+gid] = []string{"group by phones string", "777"}[i]
	}

	var bob struct{ Messages []sandbox.PhoneMessage }
	eventually(t, "every client's message on Bob's phone", func() bool {
		sandboxCall(t, sb, "GET", "/sandbox/phones/15550002222/messages", nil, &bob)
		seen := map[string]bool{}
		for _, m := range bob.Messages {
			if m.FromMe {
				continue
			}
			if body, ok := want[m.ID]; ok && body == m.Body && m.Chat == "15550001111@s.whatsapp.net" {
				seen[m.ID] = true
			}
			if body, ok := want["group:"+m.Chat]; ok && body == m.Body {
				seen["group:"+m.Chat] = true
			}
		}
		return len(seen) == len(want)
	})

	// chatName: Bob's push name for the 1:1 chat, the subject for groups, in /messages and webhooks.
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": "Ok!"}, nil)
	var club struct{ Group string }
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/groups", map[string]any{"name": "Compat Club", "members": []string{"15550001111"}}, &club)
	clubID := strings.TrimSuffix(club.Group, "@g.us") + "@g.us"
	groups[clubID] = "Compat Club"
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": club.Group, "body": "hello club"}, nil)

	type expect struct{ chatID, body, chatName string }
	expects := []expect{{"15550002222@c.us", "Ok!", "Bob"}, {clubID, "hello club", "Compat Club"}}
	for gid, subject := range groups {
		if gid != clubID {
			expects = append(expects, expect{gid, want["group:"+gid], subject})
			// A later send to a group the account created: its subject comes from GetGroupInfo.
			body := "again to " + subject
			if r := call(t, "POST", base+"/sendMessage", `{"chatId":"`+gid+`","body":"`+body+`"}`); r["sent"] != true {
				t.Fatalf("send to %s = %v", gid, r)
			}
			expects = append(expects, expect{gid, body, subject})
		}
	}
	find := func(msgs []any, e expect) map[string]any {
		for _, raw := range msgs {
			if m, _ := raw.(map[string]any); m["chatId"] == e.chatID && m["body"] == e.body {
				return m
			}
		}
		return nil
	}
	for _, e := range expects {
		var got map[string]any
		eventually(t, "message "+e.body+" in /messages?chatId", func() bool {
			// The chat filter, in the form a client has at hand.
			r := call(t, "GET", base+"/instance12345/messages?chatId="+url.QueryEscape(e.chatID), "")
			msgs, _ := r["messages"].([]any)
			for _, raw := range msgs {
				if m, _ := raw.(map[string]any); m["chatId"] != e.chatID {
					t.Fatalf("chatId filter %s returned %v", e.chatID, m)
				}
			}
			got = find(msgs, e)
			return got != nil
		})
		if got["chatName"] != e.chatName {
			t.Errorf("chatName of %q in /messages = %v, want %q", e.body, got["chatName"], e.chatName)
		}
		eventually(t, "message "+e.body+" in a webhook", func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, h := range hooks {
				msgs, _ := h["messages"].([]any)
				if got = find(msgs, e); got != nil {
					return true
				}
			}
			return false
		})
		if got["chatName"] != e.chatName {
			t.Errorf("chatName of %q in the webhook = %v, want %q", e.body, got["chatName"], e.chatName)
		}
	}

	// After Bob wrote, what the account sends him is named after him too; every message has a
	// chatName, never an absent key.
	sent := call(t, "POST", base+"/instance12345/message", `{"phone":"15550002222","body":"named now"}`)
	if sent["sent"] != true {
		t.Fatalf("send = %v", sent)
	}
	eventually(t, "the reply journaled", func() bool {
		r := call(t, "GET", base+"/messages?chatId=15550002222&last=1&limit=1", "")
		msgs, _ := r["messages"].([]any)
		return len(msgs) == 1 && msgs[0].(map[string]any)["body"] == "named now"
	})
	r := call(t, "GET", base+"/messages?limit=0", "")
	msgs, _ := r["messages"].([]any)
	for _, raw := range msgs {
		m := raw.(map[string]any)
		name, ok := m["chatName"].(string)
		if !ok || name == "" {
			t.Errorf("message without chatName: %v", m)
		}
		if m["body"] == "named now" && name != "Bob" {
			t.Errorf("chatName of a message to Bob = %q", name)
		}
		if m["chatId"] == "15550002222@c.us" && m["fromMe"] == false && name != "Bob" {
			t.Errorf("chatName of Bob's message = %q", name)
		}
	}
}
