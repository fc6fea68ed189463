package media

import "testing"

func TestWebPIsASticker(t *testing.T) {
	webp := append([]byte("RIFF\x24\x00\x00\x00WEBPVP8 "), make([]byte, 28)...)
	if f := Identify("s.webp", "", webp, int64(len(webp))); f.MIME != "image/webp" || f.Kind() != "sticker" {
		t.Fatalf("a WebP file is %s, kind %s", f.MIME, f.Kind())
	}
}
