package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"strconv"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// The content sends beyond text and files: locations, contact cards, link previews, and what
// files and texts gain from them (replies, stickers, voice note durations). Each builds its
// waE2E message and its journal entry; deliver (drain.go) dispatches to them.

// deliverText sends a text; a reply goes as an ExtendedTextMessage quoting its message.
func (e *Engine) deliverText(ctx context.Context, cli *whatsmeow.Client, it store.Item, p queue.Text) (string, *chat.Message, error) {
	msg := &waE2E.Message{Conversation: proto.String(it.Body)}
	entry := e.entry(it, chat.TypeChat, it.Body)
	e.quote(ctx, it, msg, entry, p.QuotedMsgID)
	return "", entry, e.send(ctx, cli, it.ChatID, it.WAID, msg)
}

// deliverLocation sends a pinned location; its journal body is "lat;lng".
func (e *Engine) deliverLocation(ctx context.Context, cli *whatsmeow.Client, it store.Item, p queue.Location) (string, *chat.Message, error) {
	msg := locationMessage(p)
	entry := e.entry(it, chat.TypeLocation, locationBody(p.Lat, p.Lng))
	lat, lng := p.Lat, p.Lng
	entry.Lat, entry.Lng, entry.Address = &lat, &lng, p.Address
	e.quote(ctx, it, msg, entry, p.QuotedMsgID)
	return "", entry, e.send(ctx, cli, it.ChatID, it.WAID, msg)
}

// locationBody is the Chat API body of a location: "lat;lng" in the shortest decimal form.
func locationBody(lat, lng float64) string {
	return strconv.FormatFloat(lat, 'f', -1, 64) + ";" + strconv.FormatFloat(lng, 'f', -1, 64)
}

func locationMessage(p queue.Location) *waE2E.Message {
	return &waE2E.Message{LocationMessage: &waE2E.LocationMessage{DegreesLatitude: proto.Float64(p.Lat),
		DegreesLongitude: proto.Float64(p.Lng), Address: optional(p.Address)}}
}

// deliverVCard sends a contact card; its journal body is the vCard.
func (e *Engine) deliverVCard(ctx context.Context, cli *whatsmeow.Client, it store.Item, p queue.VCard) (string, *chat.Message, error) {
	msg := &waE2E.Message{ContactMessage: &waE2E.ContactMessage{DisplayName: optional(p.DisplayName), Vcard: proto.String(p.VCard)}}
	entry := e.entry(it, chat.TypeVCard, p.VCard)
	e.quote(ctx, it, msg, entry, p.QuotedMsgID)
	return "", entry, e.send(ctx, cli, it.ChatID, it.WAID, msg)
}

// deliverLink sends a text with a link preview. The preview image was stored at enqueue (see
// instance/api/linkpreview.go); one that cannot be read any more is left out rather than failing
// the send, and it is removed once the text is sent.
func (e *Engine) deliverLink(ctx context.Context, cli *whatsmeow.Client, it store.Item, p queue.Link) (string, *chat.Message, error) {
	msg := linkMessage(it.Body, p, e.readPreview(it, p.Preview))
	entry := e.entry(it, chat.TypeChat, it.Body)
	entry.Title, entry.Description = p.Title, p.Description
	e.quote(ctx, it, msg, entry, p.QuotedMsgID)
	if err := e.send(ctx, cli, it.ChatID, it.WAID, msg); err != nil {
		return "", nil, err
	}
	if p.Preview != "" {
		if err := e.opts.Media.Remove(p.Preview); err != nil {
			e.log.Warn("removing a sent link preview", "queueNumber", it.QueueNumber, "err", err)
		}
	}
	return "", entry, nil
}

// linkMessage builds the ExtendedTextMessage of a link: its text, the URL it matched, and the
// preview's title, description and JPEG thumbnail when there are any.
func linkMessage(body string, p queue.Link, thumb []byte) *waE2E.Message {
	ext := &waE2E.ExtendedTextMessage{Text: proto.String(body), MatchedText: optional(p.URL),
		Title: optional(p.Title), Description: optional(p.Description)}
	if len(thumb) > 0 {
		ext.JPEGThumbnail = thumb
	}
	return &waE2E.Message{ExtendedTextMessage: ext}
}

// readPreview reads a stored link preview image; nil when there is none or it is gone.
func (e *Engine) readPreview(it store.Item, rel string) []byte {
	if rel == "" {
		return nil
	}
	path, err := e.opts.Media.Path(rel)
	if err == nil {
		var data []byte
		if data, err = os.ReadFile(path); err == nil {
			return data
		}
	}
	e.log.Warn("link preview unreadable; sending without it", "queueNumber", it.QueueNumber, "err", err)
	return nil
}

// finishMedia completes the message of a queued file: the quote of a reply and, for a voice
// note, its duration.
func (e *Engine) finishMedia(ctx context.Context, it store.Item, meta queue.File, data []byte, msg *waE2E.Message, entry *chat.Message) {
	if a := msg.GetAudioMessage(); a != nil && meta.MediaType == chat.TypePTT {
		if secs, ok := oggOpusSeconds(data); ok {
			a.Seconds = proto.Uint32(secs)
		}
	}
	e.quote(ctx, it, msg, entry, meta.QuotedMsgID)
}

// stickerMessage is the message of an uploaded WebP sticker.
func stickerMessage(up whatsmeow.UploadResponse, mime *string) *waE2E.Message {
	return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
		FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: mime}}
}

// oggOpusSeconds is the duration of an Ogg/Opus stream, rounded up to whole seconds: the last
// page's granule position (48 kHz samples) less the OpusHead pre-skip. ok is false when data is
// not such a stream.
func oggOpusSeconds(data []byte) (uint32, bool) {
	head := bytes.Index(data, []byte("OpusHead"))
	last := bytes.LastIndex(data, []byte("OggS"))
	if head < 0 || len(data) < head+12 || last < 0 || len(data) < last+14 {
		return 0, false
	}
	preSkip := int64(binary.LittleEndian.Uint16(data[head+10:]))
	granule := int64(binary.LittleEndian.Uint64(data[last+6:]))
	samples := granule - preSkip
	if granule < 0 || samples <= 0 {
		return 0, false
	}
	return uint32((samples + 47999) / 48000), true
}
