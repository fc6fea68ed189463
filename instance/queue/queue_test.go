package queue

import (
	"errors"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, p := range []Payload{
		Text{QuotedMsgID: "false_17472822486@c.us_ABC"},
		File{File: "out/x.png", FileName: "x.png", MimeType: "image/png", MediaType: "image", Caption: "hi", Size: 3},
		Group{GroupName: "Browsers", Participants: []string{"17472822486@c.us"}, MessageText: "welcome"},
	} {
		raw, err := Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(p.Kind(), raw)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("Decode(%s) = %#v, %v; want %#v", raw, got, err, p)
		}
	}
}

// Rows written before this package existed must still decode.
func TestDecodesStoredRows(t *testing.T) {
	cases := []struct {
		kind, raw string
		want      Payload
	}{
		{KindText, `{}`, Text{}},
		{KindText, ``, Text{}},
		{KindText, `{"quotedMsgId":"true_1@c.us_X"}`, Text{QuotedMsgID: "true_1@c.us_X"}},
		{KindFile, `{"file":"outgoing/ab.pdf","fileName":"a.pdf","mimeType":"application/pdf","mediaType":"document","size":10}`,
			File{File: "outgoing/ab.pdf", FileName: "a.pdf", MimeType: "application/pdf", MediaType: "document", Size: 10}},
		{KindGroup, `{"groupName":"G","participants":["1@c.us","2@c.us"],"messageText":"hi"}`,
			Group{GroupName: "G", Participants: []string{"1@c.us", "2@c.us"}, MessageText: "hi"}},
	}
	for _, c := range cases {
		got, err := Decode(c.kind, c.raw)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("Decode(%s, %s) = %#v, %v; want %#v", c.kind, c.raw, got, err, c.want)
		}
	}
}

func TestUnknownAndBad(t *testing.T) {
	if _, err := Decode("hologram", `{}`); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("unknown kind: %v", err)
	}
	if _, err := Decode(KindFile, `{"size":"big"}`); err == nil {
		t.Fatal("bad JSON decoded")
	}
	if _, err := Encode(nil); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("nil payload: %v", err)
	}
	if Bytes(File{Size: 7}) != 7 || Bytes(Text{}) != 0 {
		t.Fatal("Bytes")
	}
}

func TestFilesOfPayloads(t *testing.T) {
	if f := Files(File{File: "outgoing/a.pdf"}); !reflect.DeepEqual(f, []string{"outgoing/a.pdf"}) {
		t.Fatalf("file: %v", f)
	}
	if f := Files(Link{URL: "https://x.example", Preview: "outgoing/p.jpg"}); !reflect.DeepEqual(f, []string{"outgoing/p.jpg"}) {
		t.Fatalf("link: %v", f)
	}
	if f := Files(Link{URL: "https://x.example"}); f != nil || Files(Text{}) != nil {
		t.Fatalf("nothing kept: %v", f)
	}
}
