package media

import (
	"mime"
	"net/http"
	"path"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// File describes a file to send: its sanitised name, its media type, its size and its first bytes.
type File struct {
	// Name is the sanitised file name.
	Name string
	// MIME is the media type without parameters.
	MIME string
	// Size is the content's length in bytes.
	Size int64
	// Head is the first bytes of the content (up to 512, what content sniffing looks at).
	Head []byte
}

// Kind returns the Chat API message type WhatsApp will show the file as.
func (f File) Kind() string { return MediaKind(f.MIME) }

// Identify describes a file of size bytes whose first bytes are head: the MIME type (declared
// unless it is generic, else sniffed from head and the name's extension) and the sanitised name.
func Identify(name, declared string, head []byte, size int64) *File {
	m := DetectMIME(name, head)
	if declared != "" && declared != "application/octet-stream" && declared != "text/plain" &&
		(m == "application/octet-stream" || m == "text/plain") {
		m = declared
	}
	return &File{Name: SanitizeFilename(name, m), MIME: m, Size: size, Head: head}
}

// MediaKind maps a MIME type to a WhatsApp media kind: image (JPEG, PNG), sticker (WebP), video
// (MP4, 3GPP), ptt (Ogg/Opus voice), audio (other audio) or document (anything else).
func MediaKind(mimeType string) string {
	switch mimeType {
	case "image/jpeg", "image/png":
		return chat.TypeImage
	case "image/webp":
		return chat.TypeSticker
	case "video/mp4", "video/3gpp":
		return chat.TypeVideo
	case "audio/ogg", "audio/opus":
		return chat.TypePTT
	}
	if strings.HasPrefix(mimeType, "audio/") {
		return chat.TypeAudio
	}
	return chat.TypeDocument
}

// DetectMIME returns the media type of data named name: the content sniffed by net/http, refined by
// the file extension when sniffing only finds a container (zip, octet-stream, plain text).
func DetectMIME(name string, data []byte) string {
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	byExt := ""
	if ext := strings.ToLower(filepath.Ext(name)); ext != "" {
		byExt, _, _ = mime.ParseMediaType(mime.TypeByExtension(ext))
		if byExt == "" {
			byExt = extraTypes[ext]
		}
	}
	switch sniffed {
	case "application/octet-stream", "application/zip", "text/plain", "":
		if byExt != "" {
			return byExt
		}
	case "application/ogg":
		return "audio/ogg"
	}
	if sniffed == "" {
		return "application/octet-stream"
	}
	return sniffed
}

// extraTypes covers extensions that minimal systems lack in their MIME tables.
var extraTypes = map[string]string{
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".opus": "audio/ogg", ".ogg": "audio/ogg", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac",
	".mp4": "video/mp4", ".3gp": "video/3gpp", ".webp": "image/webp", ".pdf": "application/pdf",
}

// maxNameBytes keeps file names well under file system limits.
const maxNameBytes = 180

// SanitizeFilename returns a safe base file name: no directories, no control, format (bidi) or
// reserved characters, no leading dots, at most 180 bytes, never empty ("file"). If the name has no
// extension and mimeType has a known one, it is added.
func SanitizeFilename(name, mimeType string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.Is(unicode.Cf, r):
			// Format characters are invisible: bidi overrides and isolates (U+202A–U+202E,
			// U+2066–U+2069), marks (U+200E, U+200F, U+061C), zero-width characters. They could make
			// "invoice\u202Efdp.exe" look like "invoiceexe.pdf"; they are dropped.
		case r == utf8.RuneError, unicode.IsControl(r), strings.ContainsRune(`<>:"/\|?*`, r):
			b.WriteRune('_')
		case unicode.IsSpace(r):
			b.WriteRune(' ')
		default:
			b.WriteRune(r)
		}
	}
	name = strings.Trim(b.String(), ". ")
	if len(name) > maxNameBytes {
		ext := filepath.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		name = truncateUTF8(name[:len(name)-len(ext)], maxNameBytes-len(ext)) + ext
	}
	if name == "" || name == "_" {
		name = "file"
	}
	if filepath.Ext(name) == "" && mimeType != "" {
		if exts, _ := mime.ExtensionsByType(mimeType); len(exts) > 0 {
			name += preferredExt(mimeType, exts)
		}
	}
	return name
}

func preferredExt(mimeType string, exts []string) string {
	switch mimeType {
	case "image/jpeg":
		return ".jpg"
	case "audio/ogg":
		return ".ogg"
	}
	return exts[0]
}

func truncateUTF8(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
