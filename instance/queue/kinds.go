package queue

// The payloads of the whole WhatsApp surface beyond text, files and groups. Every send that shows
// something in the chat takes QuotedMsgID (a reply). Payloads that act on an earlier message
// (reaction, forward, edit, delete) name it by its Chat API message id (true|false_<chat>_<id>).

// Location is a pinned location (POST /sendLocation).
type Location struct {
	Lat     float64 `json:"lat"`
	Lng     float64 `json:"lng"`
	Address string  `json:"address,omitempty"`
	// QuotedMsgID is the Chat API id of the message this one replies to.
	QuotedMsgID string `json:"quotedMsgId,omitempty"`
}

// Kind implements Payload.
func (Location) Kind() string { return KindLocation }

// VCard is a contact card (POST /sendVCard, and POST /sendContact once the contact's card is built).
type VCard struct {
	VCard string `json:"vcard"`
	// DisplayName is the name the chat shows for the card.
	DisplayName string `json:"displayName,omitempty"`
	QuotedMsgID string `json:"quotedMsgId,omitempty"`
}

// Kind implements Payload.
func (VCard) Kind() string { return KindVCard }

// Link is a text with a link preview (POST /sendLink); the text is the item's body.
type Link struct {
	URL         string `json:"url"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// Preview is the media directory name of the preview image (JPEG), if any.
	Preview     string `json:"preview,omitempty"`
	QuotedMsgID string `json:"quotedMsgId,omitempty"`
}

// Kind implements Payload.
func (Link) Kind() string { return KindLink }

// Poll is a poll (POST /sendPoll).
type Poll struct {
	Name    string   `json:"name"`
	Options []string `json:"options"`
	// Multiple lets voters pick more than one option.
	Multiple    bool   `json:"multiple,omitempty"`
	QuotedMsgID string `json:"quotedMsgId,omitempty"`
}

// Kind implements Payload.
func (Poll) Kind() string { return KindPoll }

// Reaction is an emoji on a message (POST /sendReaction); an empty Reaction removes the account's.
type Reaction struct {
	MessageID string `json:"messageId"`
	Reaction  string `json:"reaction"`
}

// Kind implements Payload.
func (Reaction) Kind() string { return KindReaction }

// Forward sends a journaled message again to the item's chat, marked forwarded (POST /forwardMessage).
type Forward struct {
	MessageID string `json:"messageId"`
}

// Kind implements Payload.
func (Forward) Kind() string { return KindForward }

// Edit replaces the text of a message the account sent (POST /editMessage); the new text is the
// item's body.
type Edit struct {
	MessageID string `json:"messageId"`
}

// Kind implements Payload.
func (Edit) Kind() string { return KindEdit }

// Delete revokes a message for everyone (POST /deleteMessage).
type Delete struct {
	MessageID string `json:"messageId"`
}

// Kind implements Payload.
func (Delete) Kind() string { return KindDelete }
