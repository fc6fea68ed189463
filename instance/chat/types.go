package chat

// Message types of the Chat API (the "type" field of a message).
const (
	TypeChat     = "chat"
	TypeImage    = "image"
	TypeVideo    = "video"
	TypeAudio    = "audio"
	TypePTT      = "ptt"
	TypeDocument = "document"
	TypeSticker  = "sticker"
	TypeLocation = "location"
	TypeVCard    = "vcard"
	TypeCallLog  = "call_log"
	// TypeSystem covers group and security notifications.
	TypeSystem = "e2e_notification"
	// TypeRevoked is a message deleted by its sender; QuotedMsgID names it.
	TypeRevoked = "revoked"
	// TypePoll is a poll; Poll holds its question and options.
	TypePoll = "poll"
	// TypePollVote is a vote on a poll: SelectedOptions (option names), QuotedMsgID the poll.
	TypePollVote = "poll_vote"
	// TypeReaction is an emoji (Body; "" when removed) on the message QuotedMsgID.
	TypeReaction = "reaction"
	// TypeEdited is a new text (Body) for the message QuotedMsgID.
	TypeEdited = "edited"
)

// IsMedia reports whether messages of type t carry a downloadable file in body.
func IsMedia(t string) bool {
	switch t {
	case TypeImage, TypeVideo, TypeAudio, TypePTT, TypeDocument, TypeSticker:
		return true
	}
	return false
}

// Message is one journal entry as GET /messages and webhooks show it.
type Message struct {
	// ID is true|false_<chatId>_<whatsapp id>.
	ID string `json:"id"`
	// Body is the text for "chat", or a link to the file for media types.
	Body string `json:"body"`
	// Type is one of the Type constants.
	Type string `json:"type"`
	// SenderName is the push name of the sender.
	SenderName string `json:"senderName"`
	// FromMe is true for outgoing messages.
	FromMe bool `json:"fromMe"`
	// Author is the chat id of the sender (useful in groups).
	Author string `json:"author"`
	// Time is the send time, unix seconds.
	Time int64 `json:"time"`
	// ChatID is the chat the message belongs to.
	ChatID string `json:"chatId"`
	// MessageNumber is the sequence number of the message in the journal.
	MessageNumber int64 `json:"messageNumber"`
	// Caption is the text under a media message.
	Caption string `json:"caption,omitempty"`
	// ChatName is the group subject for groups, the contact's name for people, else the number
	// (or group id). Always present: receivers written for chat-api.com read it unconditionally.
	ChatName string `json:"chatName"`
	// QuotedMsgID is the id of the message this one replies to.
	QuotedMsgID string `json:"quotedMsgId,omitempty"`
	// QuotedMsgBody is the body of the quoted message when known.
	QuotedMsgBody string `json:"quotedMsgBody,omitempty"`
	// IsForwarded marks forwarded messages.
	IsForwarded bool `json:"isForwarded,omitempty"`
	// FileName is the file name of a document.
	FileName string `json:"fileName,omitempty"`
	// MimeType is the MIME type of a media message.
	MimeType string `json:"mimeType,omitempty"`
	// Lat and Lng are the coordinates of a location (Body is then "lat;lng").
	Lat *float64 `json:"lat,omitempty"`
	Lng *float64 `json:"lng,omitempty"`
	// Address is the name or address of a location.
	Address string `json:"address,omitempty"`
	// Title and Description are a link preview's.
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// Poll is the question and options of a poll.
	Poll *Poll `json:"poll,omitempty"`
	// SelectedOptions are the option names a poll_vote chose (empty: the vote was withdrawn).
	SelectedOptions []string `json:"selectedOptions,omitempty"`
	// Edited is true once the sender edited the message (its Body is then the latest text).
	Edited bool `json:"edited,omitempty"`
	// Revoked is true once the sender deleted the message for everyone.
	Revoked bool `json:"revoked,omitempty"`
}

// Poll is a poll's question and options.
type Poll struct {
	Name    string   `json:"name"`
	Options []string `json:"options"`
	// Multiple lets voters pick more than one option.
	Multiple bool `json:"multiple"`
}

// Ack statuses of webhook ack entries.
const (
	AckSent      = "sent"
	AckDelivered = "delivered"
	AckViewed    = "viewed"
	AckFailed    = "failed"
)

// AckRank orders ack statuses so that an ack never goes backwards (viewed after delivered, never
// the reverse). Unknown statuses rank 0.
func AckRank(status string) int {
	switch status {
	case AckSent:
		return 1
	case AckDelivered:
		return 2
	case AckViewed:
		return 3
	case AckFailed:
		return 4
	}
	return 0
}

// Ack is one delivery event of an outgoing message.
type Ack struct {
	ID          string `json:"id"`
	QueueNumber int64  `json:"queueNumber"`
	ChatID      string `json:"chatId"`
	Status      string `json:"status"`
	// Reason explains a failed status.
	Reason string `json:"reason,omitempty"`
	// Type is set for the outcome of a queued action (not a message): its kind, e.g.
	// group_participants; Result is what the action produced (e.g. the group joined).
	Type   string `json:"type,omitempty"`
	Result string `json:"result,omitempty"`
}

// QueueItem is one entry of GET /showMessagesQueue.
type QueueItem struct {
	// ID is the queue number.
	ID       int64  `json:"id"`
	Body     string `json:"body"`
	Type     string `json:"type"`
	ChatID   string `json:"chatId"`
	LastTry  int64  `json:"last_try"`
	Metadata string `json:"metadata"`
	// MessageID is the message id the item will have once sent.
	MessageID string `json:"messageId"`
	// Status is queued or sending.
	Status string `json:"status"`
	// Attempts counts the attempts to send the item so far.
	Attempts int `json:"attempts"`
	// LastError is the error of the last failed attempt ("" if none).
	LastError string `json:"last_error"`
	// NextTry is when the item is tried again after a failure, unix milliseconds (0: as soon as
	// its chat's earlier items are sent).
	NextTry int64 `json:"next_try"`
}

// WebhookPayload is the body POSTed to the webhook URL.
type WebhookPayload struct {
	InstanceID string    `json:"instanceId"`
	Messages   []Message `json:"messages"`
	Ack        []Ack     `json:"ack"`
	// ChatUpdate lists group changes the account saw (when chatUpdateOn).
	ChatUpdate []ChatUpdate `json:"chatUpdate,omitempty"`
	// Status lists changes of the account's status (see StatusEvent).
	Status []StatusEvent `json:"status,omitempty"`
}

// Chat update types (ChatUpdate.Type).
const (
	UpdateParticipantsAdded    = "participants added"
	UpdateParticipantsRemoved  = "participants removed"
	UpdateParticipantsPromoted = "participants promoted"
	UpdateParticipantsDemoted  = "participants demoted"
	UpdateSubject              = "subject"
	UpdateDescription          = "description"
)

// ChatUpdate is a change of a group the account is in, as the webhook's chatUpdate reports it.
type ChatUpdate struct {
	ChatID string `json:"chatId"`
	// Type is one of the Update constants.
	Type string `json:"type"`
	// Participants are the chat ids of the members concerned (participant types).
	Participants []string `json:"participants,omitempty"`
	// Author is the chat id of who made the change, when known.
	Author string `json:"author,omitempty"`
	// Time is when the change was made, unix seconds.
	Time int64 `json:"time"`
	// Subject and Description are the new values (their types).
	Subject     string `json:"subject,omitempty"`
	Description string `json:"description,omitempty"`
}
