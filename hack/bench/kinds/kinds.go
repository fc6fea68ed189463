package main

import (
	"errors"
	"fmt"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

// kind is one kind of send: the endpoint, its body for the i-th send, and what the receiving
// phone shows once it has the message.
type kind struct {
	name, endpoint string
	// phoneType is the type the phone lists the message with.
	phoneType string
	// media kinds are complete once the phone has downloaded and decrypted the file.
	media bool
	// refers kinds act on a text the instance sent first (target, a message id).
	refers bool
	body   func(p *payloads, i int, target string) map[string]any
	// check verifies the fields the phone decrypted (nil: the type is enough).
	check func(m sandbox.PhoneMessage, i int) error
}

var emojis = []string{"👍", "❤️", "😂", "🎉"}

// kinds are measured in this order; text first, as every ratio is to it.
var kinds = []kind{
	{name: "text", endpoint: "/sendMessage", phoneType: "text",
		body: func(_ *payloads, i int, _ string) map[string]any {
			return map[string]any{"body": fmt.Sprintf("text %d", i)}
		}},
	{name: "location", endpoint: "/sendLocation", phoneType: "location",
		body: func(_ *payloads, i int, _ string) map[string]any {
			return map[string]any{"lat": 52.5163, "lng": 13.3777, "address": fmt.Sprintf("Pariser Platz %d", i)}
		},
		check: func(m sandbox.PhoneMessage, _ int) error {
			if m.Lat == nil || m.Lng == nil {
				return errors.New("location without coordinates")
			}
			return nil
		}},
	{name: "vcard", endpoint: "/sendVCard", phoneType: "vcard",
		body: func(_ *payloads, i int, _ string) map[string]any {
			return map[string]any{"vcard": fmt.Sprintf("BEGIN:VCARD\nVERSION:3.0\nFN:Bench %d\nTEL;type=CELL;waid=15550009999:+1 555 000 9999\nEND:VCARD", i)}
		},
		check: func(m sandbox.PhoneMessage, _ int) error {
			if m.VCard == "" {
				return errors.New("vcard without a vCard")
			}
			return nil
		}},
	{name: "link", endpoint: "/sendLink", phoneType: "text",
		body: func(p *payloads, i int, _ string) map[string]any {
			return map[string]any{"body": fmt.Sprintf("release notes https://example.com/notes/%d", i), "title": "Release notes",
				"description": "What changed", "previewBase64": p.thumbBase64}
		},
		check: func(m sandbox.PhoneMessage, _ int) error {
			if m.Title == "" {
				return errors.New("link without a preview title")
			}
			return nil
		}},
	{name: "poll", endpoint: "/sendPoll", phoneType: "poll",
		body: func(_ *payloads, i int, _ string) map[string]any {
			return map[string]any{"name": fmt.Sprintf("poll %d", i), "options": []string{"yes", "no", "maybe"}, "multiple": false}
		},
		check: func(m sandbox.PhoneMessage, _ int) error {
			if m.Poll == nil || len(m.Poll.Options) != 3 {
				return fmt.Errorf("poll shown as %+v", m.Poll)
			}
			return nil
		}},
	{name: "reaction", endpoint: "/sendReaction", phoneType: "reaction", refers: true,
		body: func(_ *payloads, i int, target string) map[string]any {
			return map[string]any{"messageId": target, "reaction": emojis[i%len(emojis)]}
		}},
	{name: "edit", endpoint: "/editMessage", phoneType: "edited", refers: true,
		body: func(_ *payloads, i int, target string) map[string]any {
			return map[string]any{"messageId": target, "body": fmt.Sprintf("edit %d", i)}
		},
		check: func(m sandbox.PhoneMessage, i int) error {
			if want := fmt.Sprintf("edit %d", i); m.Body != want {
				return fmt.Errorf("edit shown as %q, want %q", m.Body, want)
			}
			return nil
		}},
	{name: "ptt", endpoint: "/sendPTT", phoneType: "ptt", media: true,
		body: func(p *payloads, _ int, _ string) map[string]any { return map[string]any{"audio": p.oggURI} }},
	{name: "sticker", endpoint: "/sendFile", phoneType: "sticker", media: true,
		body: func(p *payloads, _ int, _ string) map[string]any {
			return map[string]any{"body": p.webpURI, "filename": "sticker.webp"}
		}},
	{name: "video", endpoint: "/sendFile", phoneType: "video", media: true,
		body: func(p *payloads, i int, _ string) map[string]any {
			return map[string]any{"body": p.mp4URI, "filename": "clip.mp4", "caption": fmt.Sprintf("video %d", i)}
		}},
	{name: "image", endpoint: "/sendFile", phoneType: "image", media: true,
		body: func(p *payloads, i int, _ string) map[string]any {
			return map[string]any{"body": p.jpegURI, "filename": "photo.jpg", "caption": fmt.Sprintf("image %d", i)}
		}},
}

func kindByName(name string) *kind {
	for i := range kinds {
		if kinds[i].name == name {
			return &kinds[i]
		}
	}
	return nil
}

func kindNames() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.name
	}
	return names
}
