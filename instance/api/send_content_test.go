package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// queued returns the payloads of the queue, in order.
func (h *harness) queued() []store.Item {
	h.t.Helper()
	items, err := h.st.Due(context.Background(), time.Now().Add(time.Hour), 100)
	if err != nil {
		h.t.Fatal(err)
	}
	return items
}

func queuedAs[T queue.Payload](t *testing.T, it store.Item) T {
	t.Helper()
	p, err := it.Payload()
	if err != nil {
		t.Fatal(err)
	}
	v, ok := p.(T)
	if !ok {
		t.Fatalf("item %d holds %T", it.QueueNumber, p)
	}
	return v
}

func mustOK(t *testing.T, rec *httptest.ResponseRecorder) sendResponse {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("send = %d %s", rec.Code, rec.Body)
	}
	return decode[sendResponse](t, rec)
}

func testPNG(w, h int) []byte {
	var b bytes.Buffer
	_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)))
	return b.Bytes()
}

// testOpus is the first page of an Ogg/Opus stream (its OpusHead), with some audio bytes after.
func testOpus() []byte {
	b := []byte("OggS\x00\x02" + strings.Repeat("\x00", 20) + "\x01\x13OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
	return append(b, bytes.Repeat([]byte{0xfc}, 100)...)
}

func TestSendLocationQueues(t *testing.T) {
	h := sqliteHarness(t, nil)
	resp := mustOK(t, h.postJSON("/sendLocation", `{"phone":"15550002222","lat":-33.8568,"lng":151.2153,"address":" Opera House ",
		"quotedMsgId":"false_15550002222@c.us_3EB0AB"}`))
	if !resp.Sent || !strings.HasPrefix(resp.ID, "true_15550002222@c.us_") {
		t.Fatalf("answer = %+v", resp)
	}
	mustOK(t, h.do("POST", "/sendLocation", "application/x-www-form-urlencoded", strings.NewReader("chatId=15550002222%40c.us&lat=90&lng=-180"), true))
	items := h.queued()
	loc := queuedAs[queue.Location](t, items[0])
	if items[0].Kind != queue.KindLocation || items[0].Body != "-33.8568;151.2153" || loc.Lat != -33.8568 || loc.Lng != 151.2153 ||
		loc.Address != "Opera House" || loc.QuotedMsgID != "false_15550002222@c.us_3EB0AB" {
		t.Fatalf("queued %+v %+v", items[0], loc)
	}
	if loc := queuedAs[queue.Location](t, items[1]); loc.Lat != 90 || loc.Lng != -180 {
		t.Fatalf("form location %+v", loc)
	}
	for _, body := range []string{`"lat":"NaN","lng":0`, `"lat":"0x10","lng":0`, `"lat":1e400,"lng":0`, `"lat":[1],"lng":0`, `"lat":0,"lng":{}`} {
		if rec := h.postJSON("/sendLocation", `{"phone":"15550002222",`+body+`}`); rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("%s = %d %s", body, rec.Code, rec.Body)
		}
	}
	if n := len(h.queued()); n != 2 {
		t.Fatalf("%d items queued", n)
	}
}

func TestSendVCardAndContact(t *testing.T) {
	h := sqliteHarness(t, nil)
	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lovelace;Ada;;;\r\nTEL;waid=15550003333:+15550003333\r\nEND:VCARD"
	mustOK(t, h.postJSON("/sendVCard", fmt.Sprintf(`{"phone":"15550002222","vcard":%q}`, card)))
	if _, _, err := h.st.AppendMessage(context.Background(), chat.Message{ID: "false_15550003333@c.us_3EB0AA", Body: "hi",
		Type: chat.TypeChat, ChatID: "15550003333@c.us", ChatName: "Ada; the first"}); err != nil {
		t.Fatal(err)
	}
	mustOK(t, h.postJSON("/sendContact", `{"phone":"15550002222","contactId":"15550003333@c.us"}`))
	mustOK(t, h.postJSON("/sendContact", `{"phone":"15550002222","contactId":15550004444}`))
	items := h.queued()
	if v := queuedAs[queue.VCard](t, items[0]); v.VCard != card || v.DisplayName != "Ada Lovelace" || items[0].Body != card {
		t.Fatalf("vcard %+v", v)
	}
	want := "BEGIN:VCARD\nVERSION:3.0\nFN:Ada\\; the first\nTEL;type=CELL;type=VOICE;waid=15550003333:+15550003333\nEND:VCARD"
	if v := queuedAs[queue.VCard](t, items[1]); v.VCard != want || v.DisplayName != "Ada; the first" {
		t.Fatalf("contact %+v", v)
	}
	if v := queuedAs[queue.VCard](t, items[2]); v.DisplayName != "+15550004444" || !strings.Contains(v.VCard, "waid=15550004444:+15550004444") {
		t.Fatalf("unknown contact %+v", v)
	}
	for _, c := range []string{"BEGIN:VCARD\nFN:a\nEND:VCARD\nBEGIN:VCARD\nFN:b\nEND:VCARD", "BEGIN:VCARD\nFN:a", "FN:a\nEND:VCARD"} {
		if isVCard(c) {
			t.Errorf("isVCard(%q)", c)
		}
	}
	if got := vcardName("BEGIN:VCARD\nFN;CHARSET=UTF-8:Grace\\, Admiral\nEND:VCARD"); got != "Grace, Admiral" {
		t.Errorf("vcardName = %q", got)
	}
}

func TestSendLinkPreviews(t *testing.T) {
	var pageHits atomic.Int64
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cover.png" {
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(testPNG(100, 400))
			return
		}
		pageHits.Add(1)
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<head><meta property="og:title" content="OG title"><meta property="og:description" content="OG text">`+
			`<meta property="og:image" content="/cover.png"></head>`)
	}))
	defer page.Close()

	// The default guard refuses the loopback page: the link is queued without a preview.
	h := sqliteHarness(t, nil)
	mustOK(t, h.postJSON("/sendLink", `{"phone":"15550002222","body":"look: `+page.URL+`/a."}`))
	if l := queuedAs[queue.Link](t, h.queued()[0]); l.URL != page.URL+"/a" || l.Title != "" || l.Preview != "" || pageHits.Load() != 0 {
		t.Fatalf("refused preview: %+v, page hits %d", l, pageHits.Load())
	}

	open := sqliteHarness(t, func(o *Options) { o.Fetcher = fetch.NewFetcher(fetch.Guard{AllowPrivate: true}, 4096) })
	mustOK(t, open.postJSON("/sendLink", `{"phone":"15550002222","body":"`+page.URL+`/b","description":"mine"}`))
	l := queuedAs[queue.Link](t, open.queued()[0])
	if l.Title != "OG title" || l.Description != "mine" || l.Preview == "" {
		t.Fatalf("fetched preview: %+v", l)
	}
	checkThumb(t, open, l.Preview, 64, 256)
	// A title given: nothing is fetched.
	hits := pageHits.Load()
	mustOK(t, open.postJSON("/sendLink", `{"phone":"15550002222","body":"`+page.URL+`/c","title":"Mine"}`))
	if l := queuedAs[queue.Link](t, open.queued()[1]); l.Title != "Mine" || l.Preview != "" || pageHits.Load() != hits {
		t.Fatalf("titled link: %+v", l)
	}
	// previewBase64, as a data URI.
	mustOK(t, open.postJSON("/sendLink", `{"phone":"15550002222","body":"https://example.org","previewBase64":"data:image/png;base64,`+
		base64.StdEncoding.EncodeToString(testPNG(600, 300))+`"}`))
	l = queuedAs[queue.Link](t, open.queued()[2])
	checkThumb(t, open, l.Preview, 256, 128)
	if pageHits.Load() != hits {
		t.Fatal("a page was fetched for a link with its own preview")
	}
	big := base64.StdEncoding.EncodeToString(pngHeader(5000, 5000))
	if rec := open.postJSON("/sendLink", `{"phone":"15550002222","body":"https://example.org","previewBase64":"`+big+`"}`); rec.Code != 422 {
		t.Fatalf("a huge preview = %d %s", rec.Code, rec.Body)
	}
}

// pngHeader is the signature and header chunk of a w×h PNG: what DecodeConfig reads (a small file
// that declares a huge image).
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0) // 8-bit grey
	out := binary.BigEndian.AppendUint32([]byte("\x89PNG\r\n\x1a\n"), 13)
	out = append(out, ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}

// checkThumb reads a stored preview: a JPEG of w×h pixels.
func checkThumb(t *testing.T, h *harness, rel string, w, ht int) {
	t.Helper()
	path, err := h.media.Path(rel)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width != w || cfg.Height != ht {
		t.Fatalf("thumbnail %dx%d, %v; want %dx%d", cfg.Width, cfg.Height, err, w, ht)
	}
}

func TestFirstLink(t *testing.T) {
	for text, want := range map[string]string{
		"see https://example.org/a?b=1.": "https://example.org/a?b=1", "(HTTP://X.Y/z)": "HTTP://X.Y/z",
		"http:// nothing": "", "ftp://a.b": "", "mailto:a@b": "", "x https://a.b/c, y http://d.e": "https://a.b/c",
	} {
		if got := firstLink(text); got != want {
			t.Errorf("firstLink(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestSendPTT(t *testing.T) {
	h := sqliteHarness(t, nil)
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("phone", "15550002222")
	_ = w.WriteField("quotedMsgId", "true_15550002222@c.us_3EB0AB")
	fw, _ := w.CreateFormFile("audio", "note.opus")
	_, _ = fw.Write(testOpus())
	_ = w.Close()
	mustOK(t, h.do("POST", "/sendPTT", w.FormDataContentType(), &b, true))
	mustOK(t, h.postJSON("/sendPTT", `{"phone":"15550002222","audio":"data:audio/ogg;base64,`+base64.StdEncoding.EncodeToString(testOpus())+`"}`))
	items := h.queued()
	f := queuedAs[queue.File](t, items[0])
	if f.MediaType != chat.TypePTT || f.MimeType != "audio/ogg; codecs=opus" || f.FileName != "note.opus" ||
		f.QuotedMsgID != "true_15550002222@c.us_3EB0AB" || f.Size != len(testOpus()) {
		t.Fatalf("ptt %+v", f)
	}
	if f := queuedAs[queue.File](t, items[1]); f.MediaType != chat.TypePTT || f.FileName != "voice.ogg" {
		t.Fatalf("ptt by data URI %+v", f)
	}
	rec := h.postJSON("/sendPTT", `{"phone":"15550002222","audio":"data:audio/wav;base64,`+
		base64.StdEncoding.EncodeToString([]byte("RIFF\x24\x00\x00\x00WAVEfmt "+strings.Repeat("\x00", 30)))+`"}`)
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "ffmpeg -i in -c:a libopus out.ogg") {
		t.Fatalf("a WAV voice note = %d %s", rec.Code, rec.Body)
	}
	if n := len(h.queued()); n != 2 || h.media.IntakeBytes() != 0 {
		t.Fatalf("after the refusal: %d items, %d intake bytes", n, h.media.IntakeBytes())
	}
}

func TestIsOggOpus(t *testing.T) {
	if !isOggOpus(testOpus()) {
		t.Fatal("Opus refused")
	}
	vorbis := bytes.Replace(testOpus(), []byte("OpusHead"), []byte("\x01vorbis\x00"), 1)
	for _, head := range [][]byte{vorbis, []byte("OggS"), []byte("ID3\x03"), nil} {
		if isOggOpus(head) {
			t.Errorf("isOggOpus(%q)", head)
		}
	}
}

func TestSendFileStickerAndReply(t *testing.T) {
	h := sqliteHarness(t, nil)
	webp := base64.StdEncoding.EncodeToString(append([]byte("RIFF\x24\x00\x00\x00WEBPVP8 "), make([]byte, 28)...))
	mustOK(t, h.postJSON("/sendFile", `{"phone":"15550002222","body":"data:image/webp;base64,`+webp+`","filename":"s.webp",
		"quotedMsgId":"false_15550002222@c.us_3EB0AB"}`))
	if f := queuedAs[queue.File](t, h.queued()[0]); f.MediaType != chat.TypeSticker || f.QuotedMsgID != "false_15550002222@c.us_3EB0AB" {
		t.Fatalf("sticker %+v", f)
	}
}
