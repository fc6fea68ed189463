package qrscan

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/qr"
)

// Every QR code the instance renders reads back, for many codes shaped like whatsmeow's
// (ref,noise key,identity key,adv secret): a scan that misses one makes end-to-end tests flaky.
func TestDecodesEveryRenderedCode(t *testing.T) {
	part := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	for i := range 300 {
		text := strings.Join([]string{"2@" + part(60), part(32), part(32), part(32)}, ",")
		uri, err := qr.DataURI(text)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeDataURI(uri)
		if err != nil || got != text {
			t.Fatalf("code %d: %q %v, want %q", i, got, err, text)
		}
	}
}
