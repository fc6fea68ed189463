package cmd

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// oggOpus builds a small Ogg/Opus stream of about two seconds: the OpusHead and OpusTags pages and
// one audio page (a test double of a real voice note; the phone only downloads and hashes it).
func oggOpus() []byte {
	page := func(headerType byte, granule uint64, seq uint32, packet []byte) []byte {
		var b bytes.Buffer
		b.WriteString("OggS")
		b.WriteByte(0)
		b.WriteByte(headerType)
		_ = binary.Write(&b, binary.LittleEndian, granule)
		_ = binary.Write(&b, binary.LittleEndian, uint32(0x4d4f))
		_ = binary.Write(&b, binary.LittleEndian, seq)
		_ = binary.Write(&b, binary.LittleEndian, uint32(0)) // CRC: not checked by anything here
		b.WriteByte(1)
		b.WriteByte(byte(len(packet)))
		b.Write(packet)
		return b.Bytes()
	}
	head := []byte("OpusHead\x01\x01")
	head = binary.LittleEndian.AppendUint16(head, 312)
	head = binary.LittleEndian.AppendUint32(head, 48000)
	head = append(head, 0, 0, 0)
	out := page(2, 0, 0, head)
	out = append(out, page(0, 0, 1, []byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00"))...)
	return append(out, page(4, 2*48000+312, 2, bytes.Repeat([]byte{0xfc}, 60))...)
}

// pngImage returns a w×h PNG.
func pngImage(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, h/2, color.RGBA{R: 200, A: 255})
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// sendStatus posts a JSON body with the token and returns the status and the decoded answer.
func sendStatus(t *testing.T, base, path, body string) (int, map[string]any) {
	t.Helper()
	return rawCall(t, base, clientCall{path: path, ctype: "application/json", body: body, bearer: true})
}

func dataURI(mime string, data []byte) string {
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data)
}

// The content sends, against the sandbox on SQLite and PostgreSQL: bad inputs are refused with the
// reason and queue nothing; then a location, a vCard, a contact, links (previews fetched from a
// page and given inline), a voice note, a sticker, a video and replies reach Bob's phone decrypted
// with their fields, and the journal keeps them.
func TestContentKindsAgainstSandbox(t *testing.T) { onEachDatabase(t, testContentKinds) }

func testContentKinds(t *testing.T, database string) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/article":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<html><head><title>plain title</title>
<meta property="og:title" content="Gateways compared">
<meta property="og:description" content="Which WhatsApp gateway sends what">
<meta property="og:image" content="/cover.png"></head><body>…</body></html>`)
		case "/cover.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(pngImage(600, 300))
		default:
			http.NotFound(w, r)
		}
	}))
	defer page.Close()
	sb := startSandbox(t)
	o := instanceOptions{listen: "127.0.0.1:0", dataDir: t.TempDir(), database: database, token: "tok", networkURL: sb,
		allowPrivate: true, maxFileBytes: 1 << 20, mediaRetention: time.Hour, webhookMaxAge: 24 * time.Hour,
		shutdownTimeout: 5 * time.Second}
	base, stop := startInstance(t, o)
	defer stop()

	// Before pairing nothing drains: whatever a bad request queued would stay in the queue.
	refuseBadContent(t, base)

	pairAgainstSandbox(t, base, sb)
	bob := "15550002222"
	quoted := bobMessage(t, base, sb, "quote me")
	quotedWAID := quoted[strings.LastIndex(quoted, "_")+1:]

	sends := []struct {
		name, path, body string
		ok               func(m sandbox.PhoneMessage) bool
	}{
		{"reply", "/sendMessage", `{"phone":"` + bob + `","body":"a reply","quotedMsgId":"` + quoted + `"}`,
			func(m sandbox.PhoneMessage) bool {
				return m.Type == "text" && m.Body == "a reply" && m.QuotedID == quotedWAID
			}},
		{"location", "/sendLocation", `{"phone":"` + bob + `","lat":52.5163,"lng":"13.3777","address":"Pariser Platz, Berlin","quotedMsgId":"` + quoted + `"}`,
			func(m sandbox.PhoneMessage) bool {
				return m.Type == "location" && m.Lat != nil && *m.Lat == 52.5163 && m.Lng != nil && *m.Lng == 13.3777 &&
					m.Address == "Pariser Platz, Berlin" && m.QuotedID == quotedWAID
			}},
		{"vcard", "/sendVCard", `{"chatId":"` + bob + `@c.us","vcard":"BEGIN:VCARD\nVERSION:3.0\nFN:Ada Lovelace\nTEL;waid=15550003333:+15550003333\nEND:VCARD"}`,
			func(m sandbox.PhoneMessage) bool {
				return m.Type == "vcard" && strings.Contains(m.VCard, "FN:Ada Lovelace")
			}},
		{"contact", "/sendContact", `{"phone":"` + bob + `","contactId":"15550002222@c.us","quotedMsgId":"` + quoted + `"}`,
			func(m sandbox.PhoneMessage) bool {
				return m.Type == "vcard" && strings.Contains(m.VCard, "FN:Bob") && strings.Contains(m.VCard, "waid=15550002222") &&
					m.QuotedID == quotedWAID
			}},
		{"link fetched", "/sendLink", `{"phone":"` + bob + `","body":"read ` + page.URL + `/article please"}`,
			func(m sandbox.PhoneMessage) bool {
				return m.Type == "text" && m.URL == page.URL+"/article" && m.Title == "Gateways compared" &&
					m.Description == "Which WhatsApp gateway sends what"
			}},
		{"link given", "/sendLink", `{"phone":"` + bob + `","body":"https://example.org/x","title":"Given","description":"by the caller","previewBase64":"` +
			base64.StdEncoding.EncodeToString(pngImage(40, 20)) + `","quotedMsgId":"` + quoted + `"}`,
			func(m sandbox.PhoneMessage) bool {
				return m.Title == "Given" && m.Description == "by the caller" && m.URL == "https://example.org/x" && m.QuotedID == quotedWAID
			}},
		{"link unreachable", "/sendLink", `{"phone":"` + bob + `","body":"see ` + page.URL + `/missing"}`,
			func(m sandbox.PhoneMessage) bool {
				return m.Type == "text" && m.URL == page.URL+"/missing" && m.Title == ""
			}},
		{"ptt", "/sendPTT", `{"phone":"` + bob + `","audio":"` + dataURI("audio/ogg", oggOpus()) + `","quotedMsgId":"` + quoted + `"}`,
			func(m sandbox.PhoneMessage) bool {
				return m.Type == "ptt" && m.Media != nil && m.Media.SHA256 == sha(oggOpus()) && m.QuotedID == quotedWAID
			}},
		{"sticker", "/sendFile", `{"phone":"` + bob + `","body":"` + dataURI("image/webp", webp()) + `","filename":"s.webp"}`,
			func(m sandbox.PhoneMessage) bool {
				return m.Type == "sticker" && m.Media != nil && m.Media.Mimetype == "image/webp" && m.Media.SHA256 == sha(webp())
			}},
		{"video", "/sendFile", `{"phone":"` + bob + `","body":"` + dataURI("video/mp4", mp4()) + `","filename":"clip.mp4","caption":"a clip","quotedMsgId":"` + quoted + `"}`,
			func(m sandbox.PhoneMessage) bool {
				return m.Type == "video" && m.Media != nil && m.Media.Caption == "a clip" && m.Media.SHA256 == sha(mp4()) && m.QuotedID == quotedWAID
			}},
	}
	ids := map[string]string{}
	for _, s := range sends {
		code, r := sendStatus(t, base, s.path, s.body)
		id, _ := r["id"].(string)
		if code != http.StatusOK || r["sent"] != true || !strings.HasPrefix(id, "true_"+bob+"@c.us_") {
			t.Fatalf("%s: %s = %d %v", s.name, s.path, code, r)
		}
		ids[s.name] = id
	}
	for _, s := range sends {
		waID := ids[s.name][strings.LastIndex(ids[s.name], "_")+1:]
		eventually(t, s.name+" on Bob's phone", func() bool {
			var msgs struct{ Messages []sandbox.PhoneMessage }
			sandboxCall(t, sb, "GET", "/sandbox/phones/"+bob+"/messages", nil, &msgs)
			for _, m := range msgs.Messages {
				if m.ID == waID {
					return s.ok(m)
				}
			}
			return false
		})
	}
	checkContentJournal(t, base, ids, quoted)
}

// refuseBadContent sends bad requests of every content kind: each is refused with its reason and
// the queue stays empty.
func refuseBadContent(t *testing.T, base string) {
	t.Helper()
	to := `"phone":"15550002222"`
	bad := []struct {
		path, body, reason string
		code               int
	}{
		{"/sendLocation", `{` + to + `,"lng":1}`, "lat and lng are required", 400},
		{"/sendLocation", `{` + to + `,"lat":91,"lng":0}`, "lat must be a number from -90 to 90", 422},
		{"/sendLocation", `{` + to + `,"lat":0,"lng":-180.5}`, "lng must be a number from -180 to 180", 422},
		{"/sendLocation", `{` + to + `,"lat":"north","lng":0}`, "lat must be a number", 422},
		{"/sendLocation", `{` + to + `,"lat":true,"lng":0}`, "lat must be a number", 422},
		{"/sendLocation", `{"lat":1,"lng":1}`, "chatId or phone is required", 400},
		{"/sendLocation", `{` + to + `,"lat":1,"lng":1,"quotedMsgId":"nope"}`, "quotedMsgId", 422},
		{"/sendVCard", `{` + to + `}`, "vcard is required", 400},
		{"/sendVCard", `{` + to + `,"vcard":"Ada, +15550003333"}`, "vcard must be a vCard", 422},
		{"/sendVCard", `{` + to + `,"vcard":"BEGIN:VCARD\n` + strings.Repeat(`NOTE:x\n`, 10000) + `END:VCARD"}`, "vcard must be a vCard", 422},
		{"/sendContact", `{` + to + `}`, "contactId is required", 400},
		{"/sendContact", `{` + to + `,"contactId":"120363025246125486@g.us"}`, "contactId must be a person", 422},
		{"/sendLink", `{` + to + `}`, "body is required", 400},
		{"/sendLink", `{` + to + `,"body":"no link here, ftp://x neither"}`, "body must contain an http:// or https:// URL", 422},
		{"/sendLink", `{` + to + `,"body":"https://example.org","previewBase64":"bm90IGFuIGltYWdl"}`, "previewBase64 must be", 422},
		{"/sendPTT", `{` + to + `}`, "audio is required", 400},
		{"/sendPTT", `{` + to + `,"audio":"` + dataURI("audio/mpeg", append([]byte("ID3\x03\x00"), make([]byte, 64)...)) + `"}`,
			"audio must be OGG/Opus; convert with: ffmpeg -i in -c:a libopus out.ogg", 422},
		{"/sendPTT", `{` + to + `,"audio":"` + dataURI("audio/ogg", []byte("OggS\x00\x02"+strings.Repeat("\x00", 21)+"\x01\x1evorbis")) + `"}`,
			"audio must be OGG/Opus", 422},
		{"/sendFile", `{` + to + `,"body":"` + dataURI("image/webp", webp()) + `","filename":"s.webp","quotedMsgId":"true_x"}`, "quotedMsgId", 422},
	}
	for _, b := range bad {
		code, r := sendStatus(t, base, b.path, b.body)
		msg, _ := r["error"].(string)
		if code != b.code || !strings.Contains(msg, b.reason) {
			t.Errorf("%s %.80s = %d %q, want %d with %q", b.path, b.body, code, msg, b.code, b.reason)
		}
	}
	if q := call(t, "GET", base+"/showMessagesQueue", ""); q["totalMessages"] != float64(0) {
		t.Fatalf("refused sends were queued: %v", q)
	}
}

// bobMessage has Bob's phone send text to the instance and returns its Chat API id from /messages.
func bobMessage(t *testing.T, base, sb, text string) string {
	t.Helper()
	sandboxCall(t, sb, "POST", "/sandbox/phones/15550002222/messages", map[string]string{"to": "15550001111", "body": text}, nil)
	var id string
	eventually(t, "Bob's message in /messages", func() bool {
		msgs, _ := call(t, "GET", base+"/messages?lastMessageNumber=0", "")["messages"].([]any)
		for _, raw := range msgs {
			if m := raw.(map[string]any); m["body"] == text && m["fromMe"] == false {
				id, _ = m["id"].(string)
				return true
			}
		}
		return false
	})
	return id
}

// checkContentJournal reads the sent kinds back from /messages with their fields.
func checkContentJournal(t *testing.T, base string, ids map[string]string, quoted string) {
	t.Helper()
	byID := map[string]map[string]any{}
	eventually(t, "the sent kinds in /messages", func() bool {
		msgs, _ := call(t, "GET", base+"/messages?lastMessageNumber=0", "")["messages"].([]any)
		for _, raw := range msgs {
			m := raw.(map[string]any)
			byID[m["id"].(string)] = m
		}
		for _, id := range ids {
			if byID[id] == nil {
				return false
			}
		}
		return true
	})
	loc := byID[ids["location"]]
	if loc["type"] != "location" || loc["body"] != "52.5163;13.3777" || loc["lat"] != 52.5163 || loc["lng"] != 13.3777 ||
		loc["address"] != "Pariser Platz, Berlin" || loc["quotedMsgId"] != quoted {
		t.Errorf("location in the journal: %v", loc)
	}
	if v := byID[ids["vcard"]]; v["type"] != "vcard" || !strings.HasPrefix(v["body"].(string), "BEGIN:VCARD") {
		t.Errorf("vcard in the journal: %v", v)
	}
	if l := byID[ids["link fetched"]]; l["type"] != "chat" || l["title"] != "Gateways compared" || l["description"] == nil {
		t.Errorf("link in the journal: %v", l)
	}
	if r := byID[ids["reply"]]; r["quotedMsgId"] != quoted || r["quotedMsgBody"] != "quote me" {
		t.Errorf("reply in the journal: %v", r)
	}
	for name, kind := range map[string]string{"ptt": "ptt", "sticker": "sticker", "video": "video"} {
		if m := byID[ids[name]]; m["type"] != kind || !strings.Contains(m["body"].(string), "/media/") {
			t.Errorf("%s in the journal: %v", name, m)
		}
	}
	raw, _ := json.Marshal(byID[ids["ptt"]])
	if !strings.Contains(string(raw), `"mimeType":"audio/ogg; codecs=opus"`) {
		t.Errorf("ptt mime type in the journal: %s", raw)
	}
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// webp is the start of a WebP file (enough for content sniffing; the phone only hashes it).
func webp() []byte {
	return append([]byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"), make([]byte, 24)...)
}

// mp4 is the start of an MP4 file (an ftyp box, enough for content sniffing).
func mp4() []byte {
	return append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), make([]byte, 32)...)
}
