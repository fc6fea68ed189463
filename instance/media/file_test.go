package media

import (
	"strings"
	"testing"
	"unicode"
)

func TestMediaKinds(t *testing.T) {
	tests := map[string]string{"image/jpeg": "image", "image/png": "image", "video/mp4": "video", "audio/ogg": "ptt",
		"audio/mpeg": "audio", "application/pdf": "document", "image/gif": "document", "text/csv": "document"}
	for m, want := range tests {
		if got := MediaKind(m); got != want {
			t.Errorf("MediaKind(%s) = %s, want %s", m, got, want)
		}
	}
	docx := []byte("PK\x03\x04" + strings.Repeat("x", 40))
	if got := DetectMIME("report.docx", docx); !strings.Contains(got, "wordprocessingml") {
		t.Errorf("DetectMIME(docx) = %s", got)
	}
	if got := DetectMIME("voice.ogg", []byte("OggS\x00\x02"+strings.Repeat("\x00", 30))); got != "audio/ogg" {
		t.Errorf("DetectMIME(ogg) = %s", got)
	}
	if got := DetectMIME("noext", []byte{0, 1, 2, 3}); got != "application/octet-stream" {
		t.Errorf("DetectMIME(binary) = %s", got)
	}
}

func TestSanitizeFilename(t *testing.T) {
	long := strings.Repeat("é", 200) + ".pdf"
	tests := map[[2]string]string{
		{"../../etc/passwd", ""}:           "passwd",
		{`C:\Users\x\evil.exe`, ""}:        "evil.exe",
		{"a\x00b\nc.txt", ""}:              "a_b_c.txt",
		{"...", ""}:                        "file",
		{"", "image/png"}:                  "file.png",
		{"photo", "image/jpeg"}:            "photo.jpg",
		{".hidden", ""}:                    "hidden",
		{`we<ir>d:"na|me?*.doc`, ""}:       "we_ir_d__na_me__.doc",
		{"hello world.xlsx", "text/plain"}: "hello world.xlsx",
		// Bidi controls, marks and other invisible format characters are dropped.
		{"invoice\u202Efdp.exe", ""}:                    "invoicefdp.exe",
		{"\u202Aa\u202Bb\u202Cc\u202Dd\u202Ee.txt", ""}: "abcde.txt",
		{"\u2066x\u2067y\u2068z\u2069.pdf", ""}:         "xyz.pdf",
		{"l\u200Er\u200Fa\u061Cm.png", ""}:              "lram.png",
		{"zero\u200Bwidth\uFEFF\u00AD.doc", ""}:         "zerowidth.doc",
		{"bell\u0007\u0085\u009B.txt", ""}:              "bell___.txt",
		{"\u202E", "image/png"}:                         "file.png",
	}
	for in, want := range tests {
		if got := SanitizeFilename(in[0], in[1]); got != want {
			t.Errorf("SanitizeFilename(%q) = %q, want %q", in[0], got, want)
		}
	}
	got := SanitizeFilename(long, "")
	if len(got) > maxNameBytes || !strings.HasSuffix(got, ".pdf") || !strings.HasPrefix(got, "é") {
		t.Errorf("long name = %q (%d bytes)", got, len(got))
	}
}

func FuzzSanitizeFilename(f *testing.F) {
	f.Add("../a/b.txt")
	f.Add("\xff\xfe.png")
	f.Fuzz(func(t *testing.T, name string) {
		got := SanitizeFilename(name, "application/pdf")
		if got == "" || strings.ContainsAny(got, "/\\\x00") || got == "." || got == ".." || len(got) > maxNameBytes+8 ||
			strings.IndexFunc(got, func(r rune) bool { return unicode.Is(unicode.Cf, r) || unicode.IsControl(r) }) >= 0 {
			t.Fatalf("SanitizeFilename(%q) = %q", name, got)
		}
	})
}
