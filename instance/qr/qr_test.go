package qr

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"strings"
	"testing"
)

func TestDataURIIsAPNGOfSize(t *testing.T) {
	uri, err := DataURI("2@abc,def,ghi,jkl")
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := strings.CutPrefix(uri, "data:image/png;base64,")
	if !ok {
		t.Fatalf("not a PNG data URI: %.40s", uri)
	}
	data, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != Size || b.Dy() != Size {
		t.Errorf("size %v, want %dx%d", b, Size, Size)
	}
}

func TestTooLongTextIsAnError(t *testing.T) {
	if _, err := DataURI(strings.Repeat("x", 10000)); err == nil {
		t.Error("a text beyond QR capacity rendered without error")
	}
}
