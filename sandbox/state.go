package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// account is one WhatsApp account: a phone number, its LID, and its devices. Device 0 is the
// simulated phone the sandbox owns; companions linked by QR get 1, 2, ….
type account struct {
	Phone      string             `json:"phone"`
	LID        string             `json:"lid"`
	Name       string             `json:"name"`
	About      string             `json:"about,omitempty"`     // status text (profile.go)
	PictureID  string             `json:"pictureId,omitempty"` // profile picture id (profile.go)
	Devices    map[uint16]*device `json:"devices"`
	NextDevice uint16             `json:"nextDevice"`
	// watchers are accounts that asked for this account's device list; they hear about changes.
	watchers map[*account]bool
}

func (a *account) pn() types.JID  { return types.NewJID(a.Phone, types.DefaultUserServer) }
func (a *account) lid() types.JID { return types.NewJID(a.LID, types.HiddenUserServer) }

// sortedDevices lists the account's device ids in ascending order.
func (a *account) sortedDevices() []uint16 {
	ids := make([]uint16, 0, len(a.Devices))
	for id := range a.Devices {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// preKey is a public Signal prekey as uploaded by a device.
type preKey struct {
	ID  uint32 `json:"id"`
	Pub []byte `json:"pub"`
	Sig []byte `json:"sig,omitempty"`
}

// device is one linked device of an account, with the public keys others need to reach it.
type device struct {
	ID           uint16   `json:"id"`
	NoisePub     []byte   `json:"noisePub"`
	Identity     []byte   `json:"identity"`
	Registration uint32   `json:"registration"`
	SignedPreKey preKey   `json:"signedPreKey"`
	PreKeys      []preKey `json:"preKeys"`
	Platform     string   `json:"platform"`
	// Pending holds nodes delivered but not yet acknowledged by the device, in order; they are
	// (re)sent on every login. This is the offline queue.
	Pending []pendingNode `json:"pending"`
	// BannedUntil and OutdatedUntil are injected faults refused at login.
	BannedUntil   time.Time `json:"bannedUntil,omitzero"`
	OutdatedUntil time.Time `json:"outdatedUntil,omitzero"`

	acct *account
	conn *conn // the live, logged-in connection, if any
	// spoilNext: the undecryptable fault spoils the next message delivered (fault_undecryptable.go)
	spoilNext bool
}

func (d *device) pn() types.JID {
	j := d.acct.pn()
	j.Device = d.ID
	return j
}

func (d *device) lid() types.JID {
	j := d.acct.lid()
	j.Device = d.ID
	return j
}

// addr is the device's JID on the server that matches like (LID or phone number).
func (d *device) addr(like types.JID) types.JID {
	if like.Server == types.HiddenUserServer {
		return d.lid()
	}
	return d.pn()
}

// pendingNode is a marshalled node waiting for the device's ack.
type pendingNode struct {
	Key  string `json:"key"`
	Data []byte `json:"data"`
}

// group is a group chat; members are accounts by phone number.
type group struct {
	ID      string    `json:"id"`
	Subject string    `json:"subject"`
	Creator string    `json:"creator"`
	Created time.Time `json:"created"`
	Members []string  `json:"members"`
	// Admins are the members promoted to admin (the creator is super admin without being listed).
	Admins []string `json:"admins,omitempty"`
	// SubjectAt and SubjectBy tell when and by whom (phone) the subject was last set.
	SubjectAt time.Time `json:"subjectAt,omitzero"`
	SubjectBy string    `json:"subjectBy,omitempty"`
	// Description is the group's topic, DescID its version id, DescAt and DescBy when and by whom.
	Description string    `json:"description,omitempty"`
	DescID      string    `json:"descId,omitempty"`
	DescAt      time.Time `json:"descAt,omitzero"`
	DescBy      string    `json:"descBy,omitempty"`
	// InviteCode is the code of the group's invite link (made on first request).
	InviteCode string `json:"inviteCode,omitempty"`
}

func (g *group) jid() types.JID { return types.NewJID(g.ID, types.GroupServer) }

func (g *group) has(phone string) bool {
	for _, m := range g.Members {
		if m == phone {
			return true
		}
	}
	return false
}

// ackKey identifies a delivered node so the device's <ack> can retire it: class (tag), id,
// type (not for messages), from and participant, as whatsmeow echoes them.
func ackKey(class string, attrs waBinary.Attrs, fromKey string) string {
	typ := ""
	if class != "message" {
		typ = attrString(attrs["type"])
	}
	return strings.Join([]string{class, attrString(attrs["id"]), typ, attrString(attrs[fromKey]), attrString(attrs["participant"])}, "|")
}

// attrString renders an attribute value (string or JID) as text.
func attrString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case types.JID:
		return x.String()
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// randomID returns n random bytes in upper-case hex, like WhatsApp's ids.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// randomDigits returns a decimal string of n digits with a non-zero first digit.
func randomDigits(n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		lo := int64(0)
		if i == 0 {
			lo = 1
		}
		v, _ := rand.Int(rand.Reader, big.NewInt(10-lo))
		sb.WriteByte(byte('0' + lo + v.Int64()))
	}
	return sb.String()
}
