package cmd

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// carolPhone is a third sandbox phone some tests add (bobPhone: kinds_incoming_test.go).
const carolPhone = "15550003333"

// The sends that make polls or act on earlier messages, through the HTTP API against the
// sandbox, on SQLite and PostgreSQL: a poll Bob's phone shows with its options and votes on, a
// reaction set and removed, an edit and a delete for everyone of a sent text (and an edit queued
// right behind its text), a text and an image from Bob forwarded to Carol, and in a group a
// reaction to Bob's message and its deletion by the account as admin. Bad requests are answered
// 4xx and leave nothing in the queue.
func TestKindsRefs(t *testing.T) { onEachDatabase(t, testKindsRefs) }

func testKindsRefs(t *testing.T, database string) {
	sb := startSandbox(t)
	sandboxCall(t, sb, "POST", "/sandbox/phones", map[string]string{"phone": carolPhone, "name": "Carol"}, nil)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		instanceName: "refs", allowPrivate: true, maxFileBytes: 1 << 20, mediaRetention: time.Hour,
		webhookMaxAge: 24 * time.Hour, shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()
	pairAgainstSandbox(t, base, sb)
	r := refsRun{t: t, base: base, sb: sb}

	// A poll, shown with its options; Bob's vote is accepted.
	poll := r.send("/sendPoll", `{"phone":"15550002222","name":"Lunch?","options":["pizza","sushi","salad"]}`)
	pm := r.onPhone(bobPhone, "the poll", waIDOf(poll), func(m sandbox.PhoneMessage) bool {
		return m.Type == "poll" && m.Poll != nil && m.Poll.Name == "Lunch?" && !m.Poll.Multiple &&
			slices.Equal(m.Poll.Options, []string{"pizza", "sushi", "salad"})
	})
	sandboxCall(t, sb, "POST", "/sandbox/phones/"+bobPhone+"/messages",
		map[string]any{"to": "15550001111", "type": "poll_vote", "pollId": pm.ID, "options": []string{"sushi"}}, nil)
	if j := r.journaled(poll); j["type"] != "poll" || fmt.Sprint(j["poll"]) != "map[multiple:false name:Lunch? options:[pizza sushi salad]]" {
		t.Errorf("journaled poll = %v", j)
	}

	// A text: reacted to, the reaction removed, edited, deleted.
	text := r.send("/sendMessage", `{"phone":"15550002222","body":"see you at noon"}`)
	r.onPhone(bobPhone, "the text", waIDOf(text), func(m sandbox.PhoneMessage) bool { return m.Body == "see you at noon" })
	r.journaled(text)
	r.send("/sendReaction", fmt.Sprintf(`{"messageId":%q,"reaction":"👍"}`, text))
	r.onPhone(bobPhone, "the reaction", waIDOf(text), func(m sandbox.PhoneMessage) bool {
		return len(m.Reactions) == 1 && slices.Contains(mapValues(m.Reactions), "👍")
	})
	reaction := r.send("/sendReaction", fmt.Sprintf(`{"messageId":%q,"reaction":""}`, text))
	r.onPhone(bobPhone, "the reaction removed", waIDOf(text), func(m sandbox.PhoneMessage) bool { return len(m.Reactions) == 0 })
	if j := r.journaled(reaction); j["type"] != "reaction" || j["quotedMsgId"] != text {
		t.Errorf("journaled reaction = %v", j)
	}
	edit := r.send("/editMessage", fmt.Sprintf(`{"messageId":%q,"body":"see you at one"}`, text))
	r.onPhone(bobPhone, "the edit", waIDOf(text), func(m sandbox.PhoneMessage) bool { return m.Edited == "see you at one" })
	if j := r.journaled(edit); j["type"] != "edited" || j["body"] != "see you at one" || j["quotedMsgId"] != text {
		t.Errorf("journaled edit = %v", j)
	}
	if j := r.journaled(text); j["edited"] != true || j["body"] != "see you at one" {
		t.Errorf("edited original = %v", j)
	}
	revoke := r.send("/deleteMessage", fmt.Sprintf(`{"messageId":%q}`, text))
	r.onPhone(bobPhone, "the revoke", waIDOf(text), func(m sandbox.PhoneMessage) bool { return m.Revoked })
	if j := r.journaled(revoke); j["type"] != "revoked" || j["quotedMsgId"] != text {
		t.Errorf("journaled revoke = %v", j)
	}
	r.eventually("the original marked revoked", func() bool { return r.journaled(text)["revoked"] == true })

	// An edit right after the send: the text may still be in the queue, the edit follows it.
	quick := r.send("/sendMessage", `{"phone":"15550002222","body":"typo"}`)
	r.send("/editMessage", fmt.Sprintf(`{"messageId":%q,"body":"no typo"}`, quick))
	r.onPhone(bobPhone, "the quick edit", waIDOf(quick), func(m sandbox.PhoneMessage) bool { return m.Edited == "no typo" })

	// Bob's text and image, forwarded to Carol.
	var fromBob sandbox.PhoneMessage
	sandboxCall(t, sb, "POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]string{"to": "15550001111", "body": "pass it on"}, &fromBob)
	bobText := "false_15550002222@c.us_" + fromBob.ID
	r.journaled(bobText)
	fwd := r.send("/forwardMessage", fmt.Sprintf(`{"messageId":%q,"phone":"15550003333"}`, bobText))
	r.onPhone(carolPhone, "the forwarded text", waIDOf(fwd), func(m sandbox.PhoneMessage) bool {
		return m.Type == "text" && m.Body == "pass it on"
	})
	if j := r.journaled(fwd); j["isForwarded"] != true || j["body"] != "pass it on" || j["chatId"] != "15550003333@c.us" {
		t.Errorf("journaled forward = %v", j)
	}
	png, _ := base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
	sum := sha256.Sum256(png)
	var bobImage sandbox.PhoneMessage
	sandboxCall(t, sb, "POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]any{"to": "15550001111", "body": "a dot",
		"media": map[string]string{"data": base64.StdEncoding.EncodeToString(png), "mimetype": "image/png", "fileName": "dot.png"}}, &bobImage)
	image := "false_15550002222@c.us_" + bobImage.ID
	r.eventually("the image stored", func() bool { return strings.Contains(fmt.Sprint(r.journaled(image)["body"]), "/media/") })
	fwdImage := r.send("/forwardMessage", fmt.Sprintf(`{"messageId":%q,"chatId":"15550003333@c.us"}`, image))
	r.onPhone(carolPhone, "the forwarded image", waIDOf(fwdImage), func(m sandbox.PhoneMessage) bool {
		return m.Type == "image" && m.Media != nil && m.Media.SHA256 == hex.EncodeToString(sum[:])
	})

	r.inGroup()
	r.badRequests(text, bobText, reaction)
}

// inGroup reacts to a message Bob sent in a group the account created (and so administers), then
// deletes it for everyone as the group's admin.
func (r refsRun) inGroup() {
	r.t.Helper()
	code, g := r.post("/group", `{"groupName":"Refs","phones":["15550002222"]}`)
	group, _ := g["chatId"].(string)
	if code != http.StatusOK || g["created"] != true || group == "" {
		r.t.Fatalf("group = %d %v", code, g)
	}
	var sent sandbox.PhoneMessage
	sandboxCall(r.t, r.sb, "POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]string{"to": group, "body": "hello group"}, &sent)
	id := "false_" + group + "_" + sent.ID
	if j := r.journaled(id); j["author"] != "15550002222@c.us" {
		r.t.Errorf("Bob's group message = %v", j)
	}
	r.send("/sendReaction", fmt.Sprintf(`{"messageId":%q,"reaction":"🎉"}`, id))
	r.onPhone(bobPhone, "the reaction in the group", sent.ID, func(m sandbox.PhoneMessage) bool {
		return slices.Contains(mapValues(m.Reactions), "🎉")
	})
	r.send("/deleteMessage", fmt.Sprintf(`{"messageId":%q}`, id))
	r.onPhone(bobPhone, "the admin's revoke in the group", sent.ID, func(m sandbox.PhoneMessage) bool { return m.Revoked })
	r.eventually("Bob's group message marked revoked", func() bool { return r.journaled(id)["revoked"] == true })
}

// badRequests sends requests that cannot succeed: each is refused with a 4xx, and none is queued.
// revoked is a deleted text of the account's, bobs a text Bob sent, reaction a reaction entry.
func (r refsRun) badRequests(revoked, bobs, reaction string) {
	r.eventually("an empty queue", func() bool { return r.queueLength() == 0 })
	enqueued := r.enqueuedCounts()
	r.t.Logf("enqueued before the bad requests: %s", enqueued)
	many := make([]string, 13)
	for i := range many {
		many[i] = fmt.Sprintf("%q", fmt.Sprint("o", i))
	}
	unknown := "true_15550002222@c.us_3EB0AAAAAAAAAAAAAAAAAA"
	for _, bad := range []struct {
		path, body string
		code       int
	}{
		{"/sendPoll", `{"phone":"15550002222","name":"Q","options":["only"]}`, 422},
		{"/sendPoll", `{"phone":"15550002222","name":"Q","options":[` + strings.Join(many, ",") + `]}`, 422},
		{"/sendPoll", `{"phone":"15550002222","name":"Q","options":["a","a"]}`, 422},
		{"/sendPoll", `{"phone":"15550002222","name":"Q","options":["a"," "]}`, 422},
		{"/sendPoll", `{"phone":"15550002222","name":" ","options":["a","b"]}`, 422},
		{"/sendPoll", `{"phone":"15550002222","name":"` + strings.Repeat("q", 256) + `","options":["a","b"]}`, 422},
		{"/sendPoll", `{"phone":"15550002222","options":["a","b"]}`, 400},
		{"/sendPoll", `{"name":"Q","options":["a","b"]}`, 400},
		{"/sendPoll", `{"phone":"15550002222","name":"Q","options":["a","b"],"quotedMsgId":"nope"}`, 422},
		{"/sendReaction", fmt.Sprintf(`{"messageId":%q,"reaction":"👍"}`, unknown), 422},
		{"/sendReaction", `{"messageId":"true_nope_x","reaction":"👍"}`, 422},
		{"/sendReaction", fmt.Sprintf(`{"messageId":%q,"reaction":"👍👍"}`, bobs), 422},
		{"/sendReaction", fmt.Sprintf(`{"messageId":%q,"reaction":"ok"}`, bobs), 422},
		{"/sendReaction", fmt.Sprintf(`{"messageId":%q}`, bobs), 400},
		{"/sendReaction", fmt.Sprintf(`{"messageId":%q,"reaction":"👍"}`, revoked), 422},
		{"/editMessage", fmt.Sprintf(`{"messageId":%q,"body":"x"}`, bobs), 422},
		{"/editMessage", fmt.Sprintf(`{"messageId":%q,"body":"x"}`, revoked), 422},
		{"/editMessage", fmt.Sprintf(`{"messageId":%q,"body":"x"}`, unknown), 422},
		{"/editMessage", fmt.Sprintf(`{"messageId":%q}`, bobs), 400},
		{"/editMessage", `{"body":"x"}`, 400},
		{"/deleteMessage", fmt.Sprintf(`{"messageId":%q}`, bobs), 422},
		{"/deleteMessage", fmt.Sprintf(`{"messageId":%q}`, revoked), 422},
		{"/deleteMessage", fmt.Sprintf(`{"messageId":%q}`, unknown), 422},
		{"/deleteMessage", `{"messageId":"false_15550002222@c.us_no!"}`, 422},
		{"/forwardMessage", fmt.Sprintf(`{"messageId":%q,"phone":"15550003333"}`, revoked), 422},
		{"/forwardMessage", fmt.Sprintf(`{"messageId":%q,"phone":"15550003333"}`, reaction), 422},
		{"/forwardMessage", fmt.Sprintf(`{"messageId":%q,"phone":"15550003333"}`, unknown), 422},
		{"/forwardMessage", fmt.Sprintf(`{"messageId":%q}`, bobs), 400},
		{"/forwardMessage", fmt.Sprintf(`{"messageId":%q,"phone":"12"}`, bobs), 422},
	} {
		code, resp := r.post(bad.path, bad.body)
		if code != bad.code || resp["error"] == nil {
			r.t.Errorf("POST %s %s = %d %v, want %d with an error", bad.path, bad.body, code, resp, bad.code)
		}
	}
	if n := r.queueLength(); n != 0 {
		r.t.Errorf("bad requests queued %v items", n)
	}
	if after := r.enqueuedCounts(); after != enqueued {
		r.t.Errorf("bad requests were queued: enqueued counts went from %q to %q", enqueued, after)
	}
}

// enqueuedCounts is the instance's count of queued sends by kind, from /metrics.
func (r refsRun) enqueuedCounts() string {
	r.t.Helper()
	resp, err := http.Get(r.base + "/metrics")
	if err != nil {
		r.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var lines []string
	for line := range strings.Lines(string(raw)) {
		if strings.HasPrefix(line, "messenger_queue_enqueued_total{") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return strings.Join(lines, "; ")
}

// refsRun holds an instance paired against a sandbox.
type refsRun struct {
	t        *testing.T
	base, sb string
}

func (r refsRun) eventually(what string, ok func() bool) { r.t.Helper(); eventually(r.t, what, ok) }

// post sends a JSON body with the token and returns the status and the decoded answer.
func (r refsRun) post(path, body string) (int, map[string]any) {
	r.t.Helper()
	req, _ := http.NewRequest("POST", r.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

// send posts an accepted send and returns its message id.
func (r refsRun) send(path, body string) string {
	r.t.Helper()
	code, resp := r.post(path, body)
	id, _ := resp["id"].(string)
	if code != http.StatusOK || resp["sent"] != true || id == "" || resp["queueNumber"] == nil {
		r.t.Fatalf("POST %s %s = %d %v", path, body, code, resp)
	}
	return id
}

// onPhone waits until a phone shows the message with WhatsApp id waID as ok wants it.
func (r refsRun) onPhone(phone, what, waID string, ok func(sandbox.PhoneMessage) bool) sandbox.PhoneMessage {
	r.t.Helper()
	var found sandbox.PhoneMessage
	r.eventually(what+" on "+phone, func() bool {
		var msgs struct{ Messages []sandbox.PhoneMessage }
		sandboxCall(r.t, r.sb, "GET", "/sandbox/phones/"+phone+"/messages", nil, &msgs)
		for _, m := range msgs.Messages {
			if m.ID == waID && ok(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// journaled waits until the journal holds the message id and returns it as GET /messages shows it.
func (r refsRun) journaled(id string) map[string]any {
	r.t.Helper()
	var found map[string]any
	r.eventually("message "+id+" in /messages", func() bool {
		page := call(r.t, "GET", r.base+"/messages?limit=1000", "")
		msgs, _ := page["messages"].([]any)
		for _, raw := range msgs {
			if m, _ := raw.(map[string]any); m["id"] == id {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

func (r refsRun) queueLength() float64 {
	r.t.Helper()
	n, _ := call(r.t, "GET", r.base+"/showMessagesQueue", "")["totalMessages"].(float64)
	return n
}

// waIDOf is the WhatsApp id part of a Chat API message id.
func waIDOf(id string) string { return id[strings.LastIndex(id, "_")+1:] }

func mapValues(m map[string]string) []string {
	out := []string{}
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
