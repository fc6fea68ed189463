package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
)

// describe returns the kind and text of a message as a phone would show it.
func describe(msg *waE2E.Message) (kind, body string) {
	switch {
	case msg.GetConversation() != "":
		return "text", msg.GetConversation()
	case msg.GetExtendedTextMessage() != nil:
		return "text", msg.GetExtendedTextMessage().GetText()
	case msg.GetImageMessage() != nil:
		return "image", msg.GetImageMessage().GetCaption()
	case msg.GetVideoMessage() != nil:
		return "video", msg.GetVideoMessage().GetCaption()
	case msg.GetAudioMessage() != nil:
		if msg.GetAudioMessage().GetPTT() {
			return "ptt", ""
		}
		return "audio", ""
	case msg.GetDocumentMessage() != nil:
		return "document", msg.GetDocumentMessage().GetCaption()
	case msg.GetDocumentWithCaptionMessage() != nil:
		return describe(msg.GetDocumentWithCaptionMessage().GetMessage())
	case msg.GetStickerMessage() != nil:
		return "sticker", ""
	case msg.GetLocationMessage() != nil:
		return "location", msg.GetLocationMessage().GetName()
	case msg.GetContactMessage() != nil:
		return "vcard", msg.GetContactMessage().GetVcard()
	case msg.GetReactionMessage() != nil:
		return "reaction", msg.GetReactionMessage().GetText()
	case pollOf(msg) != nil:
		return "poll", pollOf(msg).GetName()
	case msg.GetPollUpdateMessage() != nil:
		return "poll_vote", ""
	case msg.GetEditedMessage().GetMessage() != nil:
		return describe(msg.GetEditedMessage().GetMessage())
	case msg.GetProtocolMessage() != nil:
		pm := msg.GetProtocolMessage()
		switch pm.GetType() {
		case waE2E.ProtocolMessage_REVOKE:
			return "revoked", ""
		case waE2E.ProtocolMessage_MESSAGE_EDIT:
			_, body := describe(pm.GetEditedMessage())
			return "edited", body
		}
		return "protocol", ""
	}
	return "unknown", ""
}

type mediaRef struct {
	info *PhoneMedia
	msg  whatsmeow.DownloadableMessage
}

// mediaOf finds the attachment of a message, if it has one.
func mediaOf(msg *waE2E.Message) *mediaRef {
	if d := msg.GetDocumentWithCaptionMessage(); d != nil {
		msg = d.GetMessage()
	}
	switch {
	case msg.GetImageMessage() != nil:
		m := msg.GetImageMessage()
		return &mediaRef{&PhoneMedia{Mimetype: m.GetMimetype(), Caption: m.GetCaption()}, m}
	case msg.GetVideoMessage() != nil:
		m := msg.GetVideoMessage()
		return &mediaRef{&PhoneMedia{Mimetype: m.GetMimetype(), Caption: m.GetCaption()}, m}
	case msg.GetAudioMessage() != nil:
		m := msg.GetAudioMessage()
		return &mediaRef{&PhoneMedia{Mimetype: m.GetMimetype()}, m}
	case msg.GetDocumentMessage() != nil:
		m := msg.GetDocumentMessage()
		return &mediaRef{&PhoneMedia{Mimetype: m.GetMimetype(), FileName: m.GetFileName(), Caption: m.GetCaption()}, m}
	case msg.GetStickerMessage() != nil:
		m := msg.GetStickerMessage()
		return &mediaRef{&PhoneMedia{Mimetype: m.GetMimetype()}, m}
	}
	return nil
}

// ParseRecipient turns what a user types (digits, +digits, or a JID in any of WhatsApp's forms)
// into a JID to send to.
func ParseRecipient(to string) (types.JID, error) {
	to = strings.TrimSpace(to)
	if to == "" {
		return types.JID{}, errors.New("recipient is empty")
	}
	if !strings.Contains(to, "@") {
		digits := strings.TrimPrefix(to, "+")
		if !phoneDigits.MatchString(digits) {
			return types.JID{}, ErrBadPhone
		}
		return types.NewJID(digits, types.DefaultUserServer), nil
	}
	jid, err := types.ParseJID(to)
	if err != nil {
		return types.JID{}, fmt.Errorf("invalid recipient %q: %w", to, err)
	}
	switch jid.Server {
	case types.LegacyUserServer:
		jid.Server = types.DefaultUserServer
	case types.DefaultUserServer, types.HiddenUserServer, types.GroupServer:
	default:
		return types.JID{}, fmt.Errorf("unsupported recipient server %q", jid.Server)
	}
	return jid.ToNonAD(), nil
}

// OutgoingMedia is an attachment a phone sends.
type OutgoingMedia struct {
	Data     []byte
	Mimetype string
	FileName string
	// Kind is image, video, audio, ptt, sticker or document; empty picks it by Mimetype.
	Kind string
}

// Send sends a text (or, with media, an attachment captioned with body) from the phone.
func (p *Phone) Send(ctx context.Context, to, body string, media *OutgoingMedia) (PhoneMessage, error) {
	if _, err := ParseRecipient(to); err != nil {
		return PhoneMessage{}, err
	}
	msg := &waE2E.Message{Conversation: proto.String(body)}
	if media != nil {
		var err error
		if msg, err = p.mediaMessage(ctx, body, media); err != nil {
			return PhoneMessage{}, err
		}
	}
	return p.SendMessage(ctx, to, msg)
}

func (p *Phone) mediaMessage(ctx context.Context, caption string, media *OutgoingMedia) (*waE2E.Message, error) {
	kind := media.Kind
	if kind == "" {
		kind = mediaKindOf(media.Mimetype)
	}
	upload := map[string]whatsmeow.MediaType{"image": whatsmeow.MediaImage, "sticker": whatsmeow.MediaImage,
		"video": whatsmeow.MediaVideo, "audio": whatsmeow.MediaAudio, "ptt": whatsmeow.MediaAudio, "document": whatsmeow.MediaDocument}
	mt, ok := upload[kind]
	if !ok {
		return nil, fmt.Errorf("%w: media kind %q is not image, video, audio, ptt, sticker or document", ErrInvalid, kind)
	}
	up, err := p.cli.Upload(ctx, media.Data, mt)
	if err != nil {
		return nil, fmt.Errorf("uploading media: %w", err)
	}
	switch kind {
	case "image":
		return &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, Mimetype: &media.Mimetype,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Caption: &caption,
		}}, nil
	case "sticker":
		return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, Mimetype: &media.Mimetype,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength,
		}}, nil
	case "video":
		return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, Mimetype: &media.Mimetype,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Caption: &caption,
		}}, nil
	case "audio", "ptt":
		ptt := kind == "ptt"
		return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, Mimetype: &media.Mimetype,
			FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength, PTT: &ptt,
		}}, nil
	}
	return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
		URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, Mimetype: &media.Mimetype,
		FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: &up.FileLength,
		FileName: &media.FileName, Caption: &caption,
	}}, nil
}

// mediaKindOf picks how an attachment is sent from its MIME type when the caller did not say.
func mediaKindOf(mimetype string) string {
	switch {
	case mimetype == "image/webp":
		return "sticker"
	case strings.HasPrefix(mimetype, "image/"):
		return "image"
	case strings.HasPrefix(mimetype, "video/"):
		return "video"
	case strings.HasPrefix(mimetype, "audio/ogg"):
		return "ptt" // Ogg/Opus is what phones record voice notes in
	case strings.HasPrefix(mimetype, "audio/"):
		return "audio"
	}
	return "document"
}

// Location is a place a phone shares.
type Location struct {
	Lat     float64 `json:"lat"`
	Lng     float64 `json:"lng"`
	Name    string  `json:"name"`
	Address string  `json:"address"`
}

// Contact is a contact card a phone shares.
type Contact struct {
	Name  string `json:"name"`
	VCard string `json:"vcard"`
}

// SendMessage sends a ready-made message (a location, a contact card…) from the phone.
func (p *Phone) SendMessage(ctx context.Context, to string, msg *waE2E.Message) (PhoneMessage, error) {
	jid, err := ParseRecipient(to)
	if err != nil {
		return PhoneMessage{}, err
	}
	return p.sendTo(ctx, jid, msg, nil)
}

// sendTo sends msg to jid and records it; fill, when set, adds what the content alone does not
// say (the option names of a vote).
func (p *Phone) sendTo(ctx context.Context, jid types.JID, msg *waE2E.Message, fill func(*PhoneMessage)) (PhoneMessage, error) {
	resp, err := p.cli.SendMessage(ctx, jid, msg)
	if err != nil {
		return PhoneMessage{}, fmt.Errorf("sending from %s: %w", p.acct.Phone, err)
	}
	m := &PhoneMessage{ID: resp.ID, Chat: p.pnString(jid), From: p.acct.pn().String(), FromMe: true,
		Time: resp.Timestamp, Status: "sent", Copies: 1, chat: resp.Chat, sender: resp.Sender}
	fillContent(m, msg)
	if fill != nil {
		fill(m)
	}
	p.remember(m)
	p.mu.Lock()
	defer p.mu.Unlock()
	return m.clone(), nil
}

// MarkRead sends read receipts for messages the phone received.
func (p *Phone) MarkRead(ctx context.Context, ids []string) error {
	type chatKey struct{ chat, sender types.JID }
	batches := map[chatKey][]string{}
	p.mu.Lock()
	for _, id := range ids {
		m := p.byID[id]
		if m == nil || m.FromMe {
			p.mu.Unlock()
			return fmt.Errorf("phone %s received no message %q", p.acct.Phone, id)
		}
		k := chatKey{m.chat, m.sender}
		batches[k] = append(batches[k], id)
	}
	p.mu.Unlock()
	for k, batch := range batches {
		if err := p.cli.MarkRead(ctx, batch, time.Now(), k.chat, k.sender); err != nil {
			return fmt.Errorf("sending read receipt: %w", err)
		}
	}
	p.mu.Lock()
	for _, id := range ids {
		p.byID[id].Status = "read"
	}
	p.mu.Unlock()
	return nil
}

// CreateGroup creates a group from the phone with the given members.
func (p *Phone) CreateGroup(ctx context.Context, name string, members []string) (string, error) {
	req := whatsmeow.ReqCreateGroup{Name: name}
	for _, m := range members {
		jid, err := ParseRecipient(m)
		if err != nil {
			return "", err
		}
		req.Participants = append(req.Participants, jid)
	}
	info, err := p.cli.CreateGroup(ctx, req)
	if err != nil {
		return "", fmt.Errorf("creating group: %w", err)
	}
	return info.JID.String(), nil
}

// Messages lists what the phone received and sent, oldest first.
func (p *Phone) Messages() []PhoneMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PhoneMessage, len(p.messages))
	for i, m := range p.messages {
		out[i] = m.clone()
	}
	return out
}

// Phone returns the simulated phone of a number.
func (s *Server) Phone(phone string) (*Phone, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.phones[strings.TrimPrefix(phone, "+")]
	if p == nil {
		return nil, ErrPhoneUnknown
	}
	return p, nil
}

// Phones lists every phone of the network.
func (s *Server) Phones() []PhoneInfo {
	s.mu.Lock()
	phones := make([]*Phone, 0, len(s.phones))
	for _, p := range s.phones {
		phones = append(phones, p)
	}
	s.mu.Unlock()
	out := make([]PhoneInfo, 0, len(phones))
	for _, p := range phones {
		out = append(out, s.phoneInfo(p))
	}
	return out
}

func (s *Server) phoneInfo(p *Phone) PhoneInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := PhoneInfo{Phone: p.acct.Phone, Name: p.acct.Name, About: p.acct.About, PictureID: p.acct.PictureID, LID: p.acct.lid().String(), JID: p.acct.pn().String(),
		Connected: p.cli.IsLoggedIn(), Devices: []string{}, Queued: map[string]int{}}
	for _, id := range p.acct.sortedDevices() {
		d := p.acct.Devices[id]
		info.Devices = append(info.Devices, d.pn().String())
		info.Queued[d.pn().String()] = len(d.Pending)
	}
	return info
}
