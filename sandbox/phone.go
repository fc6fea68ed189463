package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/messenger-operator/messenger-operator/internal/sessionguard"
	"github.com/messenger-operator/messenger-operator/sandbox/sandboxclient"

	_ "modernc.org/sqlite" // pure-Go SQLite driver for the phones' stores
)

// defaultPhoneMessages is how many messages a phone remembers unless Options.PhoneMessages says
// otherwise; the oldest are forgotten first.
const defaultPhoneMessages = 10000

// phoneConnectTimeout bounds how long a new phone may take to log in and upload its prekeys.
const phoneConnectTimeout = 30 * time.Second

// Phone is a simulated phone: the primary device (device 0) of a sandbox account, run as a real
// whatsmeow client inside the sandbox, so it encrypts, decrypts and sends receipts as a phone does.
type Phone struct {
	srv   *Server
	acct  *account
	cli   *whatsmeow.Client
	ready chan struct{}
	// inflight holds a stop until the message decrypted last is listed (phone_inflight.go).
	inflight inflight

	mu         sync.Mutex
	messages   []*PhoneMessage // received and sent, in order
	byID       map[string]*PhoneMessage
	chatStates []ChatState               // typing seen, oldest first
	presences  map[string]*ContactStatus // presence of subscribed contacts, by JID
	groupLog   []GroupEvent              // group changes seen, oldest first
}

// PhoneMessage is a message a phone received or sent, with its receipt state.
type PhoneMessage struct {
	ID     string    `json:"id"`
	Chat   string    `json:"chat"`
	From   string    `json:"from"`
	FromMe bool      `json:"fromMe"`
	Type   string    `json:"type"`
	Body   string    `json:"body"`
	Time   time.Time `json:"time"`
	// Status is, for received messages, "received" or "read" (by this phone); for sent ones
	// "sent", "delivered", "read" or "played" (by the other side).
	Status string      `json:"status"`
	Media  *PhoneMedia `json:"media,omitempty"`
	// Copies counts how often the message arrived. A phone shows a message once however often
	// it is delivered (same sender, same id), as WhatsApp does; more than 1 means a resend.
	Copies int `json:"copies"`

	// Lat, Lng and Address belong to locations; VCard to contact cards.
	Lat     *float64 `json:"lat,omitempty"`
	Lng     *float64 `json:"lng,omitempty"`
	Address string   `json:"address,omitempty"`
	VCard   string   `json:"vcard,omitempty"`
	// Title, Description and URL describe a text's link preview.
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url,omitempty"`
	// Poll is the question and options of a poll, with the votes the phone decrypted so far.
	Poll *PhonePoll `json:"poll,omitempty"`
	// SelectedOptions are the option names a poll_vote chose (none: the vote was withdrawn).
	SelectedOptions []string `json:"selectedOptions,omitempty"`
	// Reaction is the emoji of a reaction ("" removes an earlier one).
	Reaction string `json:"reaction,omitempty"`
	// TargetID is the message a reaction, poll_vote, edited or revoked entry refers to.
	TargetID string `json:"targetId,omitempty"`
	// QuotedID is the message a reply quotes.
	QuotedID string `json:"quotedId,omitempty"`
	// Reactions, Edited and Revoked are what later messages did to this one: emoji by sender,
	// the latest text of an edit, and whether it was deleted for everyone.
	Reactions map[string]string `json:"reactions,omitempty"`
	Edited    string            `json:"edited,omitempty"`
	Revoked   bool              `json:"revoked,omitempty"`

	chat, sender types.JID      // as whatsmeow reported them, for receipts, reactions, edits and votes
	msg          *waE2E.Message // the content, for replies that quote it
}

// PhonePoll is a poll as a phone shows it.
type PhonePoll struct {
	Name     string   `json:"name"`
	Options  []string `json:"options"`
	Multiple bool     `json:"multiple"`
	// Votes holds each voter's current choice, by voter JID.
	Votes map[string][]string `json:"votes,omitempty"`
}

// PhoneMedia describes an attachment the phone received and downloaded.
type PhoneMedia struct {
	Mimetype string `json:"mimetype"`
	FileName string `json:"fileName,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Size     int    `json:"size"`
	SHA256   string `json:"sha256,omitempty"`
	Error    string `json:"error,omitempty"`
}

// PhoneInfo is the public description of a phone.
type PhoneInfo struct {
	Phone     string   `json:"phone"`
	Name      string   `json:"name"`
	About     string   `json:"about,omitempty"`
	PictureID string   `json:"pictureId,omitempty"`
	LID       string   `json:"lid"`
	JID       string   `json:"jid"`
	Connected bool     `json:"connected"`
	Devices   []string `json:"devices"`
	// Queued counts, per device, what waits for the device's acknowledgement (its offline queue).
	Queued map[string]int `json:"queued"`
}

// Errors of the phone API.
var (
	ErrPhoneExists  = errors.New("a phone with this number already exists")
	ErrPhoneUnknown = errors.New("no such phone")
	ErrBadPhone     = errors.New("phone must be 6 to 15 digits, country code first")
)

var phoneDigits = regexp.MustCompile(`^[1-9][0-9]{5,14}$`)

// openPhoneStore opens the SQLite database of the phones' whatsmeow stores.
func openPhoneStore(ctx context.Context, dataDir string) (*sqlstore.Container, error) {
	dsn := "file:sandbox-" + randomID(8) + "?mode=memory&cache=shared&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)"
	if dataDir != "" {
		dsn = "file:" + filepath.Join(dataDir, "phones.db") + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	}
	c, err := sqlstore.New(ctx, "sqlite", dsn, waLog.Noop)
	if err != nil {
		return nil, fmt.Errorf("opening phone store: %w", err)
	}
	return c, nil
}

// CreatePhone adds an account with a simulated phone and waits until the phone is online.
func (s *Server) CreatePhone(ctx context.Context, phone, name string) (PhoneInfo, error) {
	phone = strings.TrimPrefix(strings.TrimSpace(phone), "+")
	if !phoneDigits.MatchString(phone) {
		return PhoneInfo{}, ErrBadPhone
	}
	if name = strings.TrimSpace(name); name == "" {
		name = "Phone " + phone
	}
	if len(name) > 64 {
		return PhoneInfo{}, errors.New("name must be at most 64 characters")
	}
	s.mu.Lock()
	if s.byPhone[phone] != nil {
		s.mu.Unlock()
		return PhoneInfo{}, ErrPhoneExists
	}
	lid := randomDigits(15)
	for s.byLID[lid] != nil {
		lid = randomDigits(15)
	}
	acct := &account{Phone: phone, LID: lid, Name: name, Devices: map[uint16]*device{}}
	s.byPhone[phone], s.byLID[lid] = acct, acct // reserve the number while the store is written
	s.mu.Unlock()

	dev, err := s.newPhoneDevice(ctx, acct)
	if err != nil {
		s.mu.Lock()
		delete(s.byPhone, phone)
		delete(s.byLID, lid)
		s.mu.Unlock()
		return PhoneInfo{}, err
	}
	s.mu.Lock()
	acct.Devices[0] = &device{
		ID: 0, NoisePub: dev.NoiseKey.Pub[:], Identity: dev.IdentityKey.Pub[:], Registration: dev.RegistrationID,
		SignedPreKey: preKey{ID: dev.SignedPreKey.KeyID, Pub: dev.SignedPreKey.Pub[:], Sig: dev.SignedPreKey.Signature[:]},
		Platform:     "android", acct: acct,
	}
	s.dirty = true
	s.mu.Unlock()
	p, err := s.runPhone(acct, dev)
	if err != nil {
		return PhoneInfo{}, err
	}
	if err := p.waitReady(ctx); err != nil {
		return PhoneInfo{}, err
	}
	return s.phoneInfo(p), nil
}

// newPhoneDevice creates the whatsmeow store of a primary device: already "paired" (it is the
// account), with a self-signed device identity.
func (s *Server) newPhoneDevice(ctx context.Context, acct *account) (*store.Device, error) {
	dev := s.phoneStore.NewDevice()
	pn, lid := acct.pn(), acct.lid()
	dev.ID, dev.LID = &pn, lid
	dev.PushName, dev.Platform = acct.Name, "android"
	details, err := proto.Marshal(&waAdv.ADVDeviceIdentity{
		RawID: proto.Uint32(1), Timestamp: proto.Uint64(uint64(time.Now().Unix())), KeyIndex: proto.Uint32(0),
	})
	if err != nil {
		return nil, err
	}
	dev.Account = &waAdv.ADVSignedDeviceIdentity{Details: details, AccountSignatureKey: dev.IdentityKey.Pub[:],
		AccountSignature: sign(dev.IdentityKey, details), DeviceSignature: sign(dev.IdentityKey, details)}
	if err := dev.Save(ctx); err != nil {
		return nil, fmt.Errorf("saving phone store: %w", err)
	}
	if err := dev.LIDs.PutLIDMapping(ctx, lid, pn); err != nil {
		return nil, fmt.Errorf("saving phone LID: %w", err)
	}
	return dev, nil
}

// startPhones runs the phones of a loaded (persistent) network.
func (s *Server) startPhones(ctx context.Context) error {
	s.mu.Lock()
	accts := make([]*account, 0, len(s.byPhone))
	for _, a := range s.byPhone {
		accts = append(accts, a)
	}
	s.mu.Unlock()
	for _, a := range accts {
		dev, err := s.phoneStore.GetDevice(ctx, a.pn())
		if err != nil || dev == nil {
			return fmt.Errorf("loading the store of phone %s: %w", a.Phone, errors.Join(err, errors.New("missing")))
		}
		p, err := s.runPhone(a, dev)
		if err != nil {
			return err
		}
		if err := p.waitReady(ctx); err != nil {
			return err
		}
	}
	return nil
}

// runPhone connects a phone's whatsmeow client to this sandbox.
func (s *Server) runPhone(acct *account, dev *store.Device) (*Phone, error) {
	p := &Phone{srv: s, acct: acct, ready: make(chan struct{}), byID: map[string]*PhoneMessage{}}
	sessionguard.Wrap(dev) // as the instance does: no lost Signal session updates
	if _, ok := dev.Sessions.(phoneSessions); !ok {
		dev.Sessions = phoneSessions{SessionStore: dev.Sessions, f: &p.inflight}
		dev.SenderKeys = phoneSenderKeys{SenderKeyStore: dev.SenderKeys, f: &p.inflight}
	}
	p.cli = whatsmeow.NewClient(dev, waLog.Noop)
	// Acknowledge a message only once it is on the phone's list, so a sandbox stopped in
	// between delivers it again after its restart rather than losing it.
	p.cli.SynchronousAck = true
	p.cli.UseRetryMessageStore = true // a phone answers retry receipts after a restart too
	// Phones do not use whatsmeow's decrypted-event buffer: with it (and the session guard) a
	// phone listed a sender's messages out of their order (TestPipelinedDrainKeepsChatOrder).
	h, err := sandboxclient.HTTPClient(s.URL())
	if err != nil {
		return nil, err
	}
	p.cli.SetWebsocketHTTPClient(h)
	p.cli.SetPreLoginHTTPClient(h)
	p.cli.SetMediaHTTPClient(h)
	p.cli.AddEventHandler(p.onEvent)
	s.mu.Lock()
	s.phones[acct.Phone] = p
	restored := s.restored[acct.Phone]
	delete(s.restored, acct.Phone)
	s.mu.Unlock()
	p.restoreMessages(restored)
	if err := p.cli.Connect(); err != nil {
		return nil, fmt.Errorf("connecting phone %s: %w", acct.Phone, err)
	}
	return p, nil
}

func (p *Phone) waitReady(ctx context.Context) error {
	select {
	case <-p.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(phoneConnectTimeout):
		return fmt.Errorf("phone %s did not come online", p.acct.Phone)
	}
}

// stop disconnects the phone once the message it is handling, if any, is on its list.
func (p *Phone) stop() {
	p.cli.Disconnect()
	p.inflight.stop()
}

// onEvent records what the phone sees.
func (p *Phone) onEvent(evt any) {
	switch e := evt.(type) {
	case *events.Connected:
		select {
		case <-p.ready:
		default:
			close(p.ready)
		}
	case *events.Message:
		p.recordMessage(e)
		p.inflight.settle()
	case *events.Receipt:
		p.recordReceipt(e)
	case *events.UndecryptableMessage:
		p.inflight.settle()
		if p.inflight.isStopping() {
			return // refused on purpose (phone_inflight.go): delivered again after the restart
		}
		p.srv.log.Warn("phone could not decrypt a message", "phone", p.acct.Phone, "id", e.Info.ID,
			"from", e.Info.Sender.String(), "unavailable", e.IsUnavailable)
	case *events.ChatPresence:
		p.recordChatState(e)
	case *events.Presence:
		p.recordPresence(e)
	case *events.GroupInfo, *events.JoinedGroup:
		p.recordGroupEvent(e)
	}
}

func (p *Phone) recordMessage(e *events.Message) {
	m := &PhoneMessage{
		ID: e.Info.ID, Chat: p.pnString(e.Info.Chat), From: p.pnString(e.Info.Sender), FromMe: e.Info.IsFromMe,
		Time: e.Info.Timestamp, Status: "received", Copies: 1, chat: e.Info.Chat, sender: e.Info.Sender,
	}
	if m.FromMe {
		m.Status = "sent"
	}
	if !fillContent(m, e.Message) {
		return // sender-key distribution, app state keys and the like: nothing a phone shows
	}
	if m.Type == "poll_vote" {
		m.SelectedOptions = p.decryptVote(e, m.TargetID)
	}
	if p.duplicate(m) {
		return
	}
	var dl whatsmeow.DownloadableMessage
	if media := mediaOf(e.Message); media != nil {
		m.Media, dl = media.info, media.msg
	}
	p.remember(m)
	if dl != nil {
		go p.download(m, dl)
	}
}

// download fetches and decrypts an attachment as a phone would, recording size and hash.
func (p *Phone) download(m *PhoneMessage, dl whatsmeow.DownloadableMessage) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data, err := p.cli.Download(ctx, dl)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		m.Media.Error = err.Error()
		return
	}
	sum := sha256.Sum256(data)
	m.Media.Size, m.Media.SHA256 = len(data), hex.EncodeToString(sum[:])
}

// duplicate counts another copy of a message the phone already shows.
func (p *Phone) duplicate(m *PhoneMessage) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.byID[m.ID]; old != nil && old.From == m.From && old.Chat == m.Chat {
		old.Copies++
		return true
	}
	return false
}

// remember adds a message to the phone's list, forgetting the oldest beyond Options.PhoneMessages.
func (p *Phone) remember(m *PhoneMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.messages = append(p.messages, m)
	p.byID[m.ID] = m
	p.applyLocked(m)
	if over := len(p.messages) - p.srv.opts.PhoneMessages; over > 0 {
		for _, old := range p.messages[:over] {
			if p.byID[old.ID] == old {
				delete(p.byID, old.ID)
			}
		}
		p.messages = append([]*PhoneMessage(nil), p.messages[over:]...)
	}
}

func (p *Phone) recordReceipt(e *events.Receipt) {
	var status string
	switch e.Type {
	case types.ReceiptTypeDelivered, types.ReceiptTypeInactive:
		status = "delivered"
	case types.ReceiptTypeRead:
		status = "read"
	case types.ReceiptTypePlayed:
		status = "played"
	default:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range e.MessageIDs {
		if m := p.byID[id]; m != nil && m.FromMe && statusRank[status] > statusRank[m.Status] {
			m.Status = status
		}
	}
}

var statusRank = map[string]int{"sent": 1, "delivered": 2, "read": 3, "played": 4}

// pnString renders a JID in phone-number form when the sandbox knows the account.
func (p *Phone) pnString(j types.JID) string {
	if j.Server == types.HiddenUserServer {
		p.srv.mu.Lock()
		a := p.srv.byLID[j.User]
		p.srv.mu.Unlock()
		if a != nil {
			return a.pn().String()
		}
	}
	return j.ToNonAD().String()
}
