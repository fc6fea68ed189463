package main

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/sandbox"
)

// The generated files are what the instance takes them for: each media kind's payload is sniffed
// as the MIME type that makes it that kind.
func TestPayloadsAreTheirKinds(t *testing.T) {
	p, err := newPayloads()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ uri, name, mime string }{
		{p.oggURI, "voice", "audio/ogg"}, {p.webpURI, "sticker", "image/webp"},
		{p.mp4URI, "clip", "video/mp4"}, {p.jpegURI, "photo", "image/jpeg"},
	} {
		raw := decodeURI(t, c.uri)
		if got := media.DetectMIME(c.name, raw); got != c.mime {
			t.Errorf("%s sniffed as %s, want %s", c.name, got, c.mime)
		}
	}
	if media.MediaKind("audio/ogg") != "ptt" {
		t.Error("Ogg is no longer a voice note")
	}
}

// The Ogg stream is well formed: pages one after the other, each with its CRC, the first holding
// OpusHead, the last marked end of stream.
func TestOggPages(t *testing.T) {
	p, _ := newPayloads()
	raw := decodeURI(t, p.oggURI)
	pages := 0
	for len(raw) > 0 {
		if len(raw) < 27 || string(raw[:4]) != "OggS" {
			t.Fatalf("page %d does not start with OggS", pages)
		}
		n := 27 + int(raw[26])
		for _, l := range raw[27:n] {
			n += int(l)
		}
		pg := append([]byte(nil), raw[:n]...)
		want := binary.LittleEndian.Uint32(pg[22:])
		binary.LittleEndian.PutUint32(pg[22:], 0)
		if got := oggCRC(pg); got != want {
			t.Fatalf("page %d CRC %08x, want %08x", pages, want, got)
		}
		if pages == 0 && (raw[5] != 0x02 || !strings.HasPrefix(string(raw[28:]), "OpusHead")) {
			t.Fatal("first page is not the beginning of an Opus stream")
		}
		if len(raw) == n && raw[5] != 0x04 {
			t.Fatal("last page is not marked end of stream")
		}
		raw, pages = raw[n:], pages+1
	}
	if pages != 12 {
		t.Fatalf("%d pages, want 2 headers + 10 seconds", pages)
	}
	// The catalogued check value of this CRC (CRC-32/CKSUM without its final inversion).
	if got := oggCRC([]byte("123456789")); got != 0x765e7680^0xffffffff {
		t.Fatalf("oggCRC(123456789) = %08x", got)
	}
}

func TestArrived(t *testing.T) {
	img, text := kindByName("image"), kindByName("text")
	msgs := []sandbox.PhoneMessage{{ID: "A", Type: "text"}, {ID: "B", Type: "image", Media: &sandbox.PhoneMedia{}}}
	if _, done, err := arrived(msgs, "A", text); !done || err != nil {
		t.Fatalf("text: %v %v", done, err)
	}
	if _, done, err := arrived(msgs, "B", img); done || err != nil {
		t.Fatalf("image not yet downloaded: %v %v", done, err)
	}
	msgs[1].Media.SHA256 = "ab"
	if _, done, err := arrived(msgs, "B", img); !done || err != nil {
		t.Fatalf("image downloaded: %v %v", done, err)
	}
	if _, _, err := arrived(msgs, "A", img); err == nil {
		t.Fatal("a text taken for an image")
	}
	if _, done, err := arrived(msgs, "C", text); done || err != nil {
		t.Fatalf("missing message: %v %v", done, err)
	}
	ds := []time.Duration{5, 1, 4, 2, 3}
	if percentile(ds, 50) != 3 || percentile(ds, 99) != 5 {
		t.Fatalf("percentiles %v %v", percentile(ds, 50), percentile(ds, 99))
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-kinds", "poll,text,image"})
	if err != nil || strings.Join(cfg.kinds, ",") != "text,poll,image" {
		t.Fatalf("kinds %v, %v", cfg.kinds, err)
	}
	if _, err := parseFlags([]string{"-kinds", "fax"}); err == nil || !strings.Contains(err.Error(), "fax") {
		t.Fatalf("unknown kind: %v", err)
	}
}

func decodeURI(t *testing.T, uri string) []byte {
	t.Helper()
	_, b64, ok := strings.Cut(uri, ";base64,")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil {
		t.Fatalf("bad data URI: %v", err)
	}
	return raw
}
