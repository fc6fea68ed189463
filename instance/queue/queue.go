// Package queue is the contract of the outbound queue's payloads: one Go type per kind of send,
// and the JSON an item keeps in the store (its metadata column). The API encodes payloads when it
// queues a send, the store keeps them opaque, and the engine decodes them to deliver the send; none
// of them needs to know the others.
//
// To add a kind: declare its type with a Kind method and register it in kinds. The JSON of a
// stored kind never changes incompatibly: fields are only added, with omitempty, so that rows
// written by older builds still decode.
package queue

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Kinds of queue items, as stored in the kind column and shown by GET /showMessagesQueue.
const (
	KindText  = "text"
	KindFile  = "file"
	KindGroup = "group"
	// The kinds of the whole WhatsApp surface (kinds.go).
	KindLocation = "location"
	KindVCard    = "vcard"
	KindLink     = "link"
	KindPoll     = "poll"
	KindReaction = "reaction"
	KindForward  = "forward"
	KindEdit     = "edit"
	KindDelete   = "delete"
)

// ErrUnknownKind is returned for a kind no payload type is registered for.
var ErrUnknownKind = errors.New("unknown queue item kind")

// Payload is the kind-specific part of a send.
type Payload interface {
	// Kind is the kind the payload is stored under.
	Kind() string
}

// Text is a text message.
type Text struct {
	// QuotedMsgID is the Chat API id of the message this one replies to.
	QuotedMsgID string `json:"quotedMsgId,omitempty"`
}

// Kind implements Payload.
func (Text) Kind() string { return KindText }

// File is a file (image, video, audio, voice note or document) stored in the media directory.
type File struct {
	// File is the media directory name of the stored file (media.Dir.Path).
	File      string `json:"file"`
	FileName  string `json:"fileName"`
	MimeType  string `json:"mimeType"`
	MediaType string `json:"mediaType"`
	Caption   string `json:"caption,omitempty"`
	Size      int    `json:"size"`
	// QuotedMsgID is the Chat API id of the message this one replies to.
	QuotedMsgID string `json:"quotedMsgId,omitempty"`
}

// Kind implements Payload.
func (File) Kind() string { return KindFile }

// Group is a group creation, with an optional first message.
type Group struct {
	GroupName string `json:"groupName"`
	// Participants are chat ids (<digits>@c.us).
	Participants []string `json:"participants"`
	MessageText  string   `json:"messageText,omitempty"`
}

// Kind implements Payload.
func (Group) Kind() string { return KindGroup }

// kinds decodes the stored JSON of every known kind.
var kinds = map[string]func(raw []byte) (Payload, error){
	KindText:  decodeAs[Text],
	KindFile:  decodeAs[File],
	KindGroup: decodeAs[Group],

	KindLocation: decodeAs[Location],
	KindVCard:    decodeAs[VCard],
	KindLink:     decodeAs[Link],
	KindPoll:     decodeAs[Poll],
	KindReaction: decodeAs[Reaction],
	KindForward:  decodeAs[Forward],
	KindEdit:     decodeAs[Edit],
	KindDelete:   decodeAs[Delete],

	KindGroupParticipants: decodeAs[GroupParticipants],
	KindGroupJoin:         decodeAs[GroupJoin],
	KindGroupLeave:        decodeAs[GroupLeave],
	KindGroupSubject:      decodeAs[GroupSubject],
	KindGroupDescription:  decodeAs[GroupDescription],
}

func decodeAs[T Payload](raw []byte) (Payload, error) {
	var p T
	if len(raw) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	return p, nil
}

// Known reports whether kind has a payload type.
func Known(kind string) bool {
	_, ok := kinds[kind]
	return ok
}

// Encode returns the stored JSON of p.
func Encode(p Payload) (string, error) {
	if p == nil || !Known(p.Kind()) {
		return "", fmt.Errorf("encoding payload %T: %w", p, ErrUnknownKind)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encoding %s payload: %w", p.Kind(), err)
	}
	return string(raw), nil
}

// Decode turns the stored JSON of an item of the given kind back into its payload (a value of
// that kind's type, e.g. Text).
func Decode(kind, metadata string) (Payload, error) {
	dec, ok := kinds[kind]
	if !ok {
		return nil, fmt.Errorf("decoding %q: %w", kind, ErrUnknownKind)
	}
	p, err := dec([]byte(metadata))
	if err != nil {
		return nil, fmt.Errorf("decoding %s payload: %w", kind, err)
	}
	return p, nil
}

// Bytes is how many bytes of queued files p holds (counted against the queue's byte cap).
func Bytes(p Payload) int64 {
	if f, ok := p.(File); ok {
		return int64(f.Size)
	}
	return 0
}

// Files are the media directory names of the files p keeps in the media directory while queued
// (a file send's file, a link's preview image): removing the item removes them.
func Files(p Payload) []string {
	switch p := p.(type) {
	case File:
		if p.File != "" {
			return []string{p.File}
		}
	case Link:
		if p.Preview != "" {
			return []string{p.Preview}
		}
	}
	return nil
}
