package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"go.mau.fi/whatsmeow"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/util/keys"
)

// qrRefs is the most QR references a pairing connection gets (whatsmeow shows them in turn).
const qrRefs = 6

// pairing is an unpaired connection's offer: the keys it registered with and its QR refs.
type pairing struct {
	refs         []string
	identity     []byte
	registration uint32
	signedPreKey preKey
	// Pairing by code (instead of QR): see paircode.go.
	code *codePairing
	// Set once a phone scanned the QR: where the device goes and who waits for the answer.
	acct   *account
	devID  uint16
	iqID   string
	result chan error
}

// startPairing registers the connection's keys and sends it QR references.
func (s *Server) startPairing(c *conn) {
	data := c.payload.GetDevicePairingData()
	p := &pairing{identity: data.GetEIdent()}
	if len(data.GetERegid()) == 4 {
		p.registration = binary.BigEndian.Uint32(data.GetERegid())
	}
	if id := data.GetESkeyID(); len(id) == 3 {
		p.signedPreKey = preKey{ID: uint32(id[0])<<16 | uint32(id[1])<<8 | uint32(id[2]), Pub: data.GetESkeyVal(), Sig: data.GetESkeySig()}
	}
	if len(p.identity) != 32 {
		c.sendAndClose(failureNode(400, nil))
		return
	}
	refs := make([]waBinary.Node, s.opts.QRCodes)
	s.mu.Lock()
	for i := range refs {
		ref := "2@" + randomID(24)
		p.refs = append(p.refs, ref)
		s.pairings[ref] = c
		refs[i] = waBinary.Node{Tag: "ref", Content: []byte(ref)}
	}
	c.pairing = p
	s.mu.Unlock()
	c.send(waBinary.Node{Tag: "iq", Attrs: waBinary.Attrs{
		"from": serverJID, "type": "set", "id": randomID(8), "xmlns": "md",
	}, Content: []waBinary.Node{{Tag: "pair-device", Content: refs}}})
}

// qrData is what a companion's QR code says: https://wa.me/settings/linked_devices#ref,noise,identity,adv[,type].
type qrData struct {
	ref             string
	noise, identity []byte
	advSecret       []byte
}

func parseQR(text string) (qrData, error) {
	var q qrData
	if i := strings.IndexByte(text, '#'); i >= 0 {
		text = text[i+1:]
	}
	parts := strings.Split(strings.TrimSpace(text), ",")
	if len(parts) < 4 {
		return q, errors.New("not a WhatsApp linking QR code")
	}
	var err error
	q.ref = parts[0]
	if q.noise, err = base64.StdEncoding.DecodeString(parts[1]); err != nil || len(q.noise) != 32 {
		return q, errors.New("QR code has an invalid noise key")
	}
	if q.identity, err = base64.StdEncoding.DecodeString(parts[2]); err != nil || len(q.identity) != 32 {
		return q, errors.New("QR code has an invalid identity key")
	}
	if q.advSecret, err = base64.StdEncoding.DecodeString(parts[3]); err != nil || len(q.advSecret) == 0 {
		return q, errors.New("QR code has an invalid secret")
	}
	return q, nil
}

// Errors of linking a device by QR.
var (
	ErrQRUnknown = errors.New("no device is showing this QR code (expired or already used)")
	ErrQRInvalid = errors.New("invalid QR code")
)

// linkDevice is what a phone does when it scans a companion's QR: it signs the companion's
// identity with the account key, the server sends <pair-success>, and the companion answers with
// its own signature. It returns the new device's JID once the companion confirmed.
func (s *Server) linkDevice(acct *account, phoneIdentity *keys.KeyPair, platform, qr string, timeout time.Duration) (string, error) {
	q, err := parseQR(qr)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrQRInvalid, err)
	}
	s.mu.Lock()
	c := s.pairings[q.ref]
	if c == nil || c.pairing.acct != nil || !bytes.Equal(c.staticPub, q.noise) || !bytes.Equal(c.pairing.identity, q.identity) {
		s.mu.Unlock()
		return "", ErrQRUnknown
	}
	s.mu.Unlock()
	return s.pairSuccess(c, acct, phoneIdentity, platform, q, timeout)
}

// pairSuccess gives the companion on c a device of acct, signed by the phone, and waits for the
// companion's confirmation.
func (s *Server) pairSuccess(c *conn, acct *account, phoneIdentity *keys.KeyPair, platform string, q qrData, timeout time.Duration) (string, error) {
	s.mu.Lock()
	p := c.pairing
	if p.acct != nil {
		s.mu.Unlock()
		return "", ErrQRUnknown
	}
	p.acct, p.iqID, p.result = acct, randomID(8), make(chan error, 1)
	acct.NextDevice++
	p.devID = acct.NextDevice
	dev := &device{ID: p.devID, acct: acct}
	s.mu.Unlock()

	container, err := signedIdentity(phoneIdentity, q, uint32(p.devID))
	if err != nil {
		return "", err
	}
	c.send(waBinary.Node{Tag: "iq", Attrs: waBinary.Attrs{
		"from": serverJID, "type": "set", "id": p.iqID, "xmlns": "md", "t": time.Now().Unix(),
	}, Content: []waBinary.Node{{Tag: "pair-success", Content: []waBinary.Node{
		{Tag: "device-identity", Content: container},
		{Tag: "device", Attrs: waBinary.Attrs{"jid": dev.pn(), "lid": dev.lid()}},
		{Tag: "platform", Attrs: waBinary.Attrs{"name": platform}},
	}}}})
	select {
	case err := <-p.result:
		if err != nil {
			return "", err
		}
		return dev.pn().String(), nil
	case <-time.After(timeout):
		c.close()
		return "", errors.New("the device did not confirm the pairing in time")
	}
}

// signedIdentity builds the ADVSignedDeviceIdentityHMAC a phone sends to a new companion.
func signedIdentity(account *keys.KeyPair, q qrData, keyIndex uint32) ([]byte, error) {
	details, err := proto.Marshal(&waAdv.ADVDeviceIdentity{
		RawID: proto.Uint32(uint32(time.Now().UnixNano())), Timestamp: proto.Uint64(uint64(time.Now().Unix())),
		KeyIndex: proto.Uint32(keyIndex), AccountType: waAdv.ADVEncryptionType_E2EE.Enum(), DeviceType: waAdv.ADVEncryptionType_E2EE.Enum(),
	})
	if err != nil {
		return nil, err
	}
	msg := append(append(append([]byte{}, whatsmeow.AdvAccountSignaturePrefix...), details...), q.identity...)
	signed, err := proto.Marshal(&waAdv.ADVSignedDeviceIdentity{
		Details: details, AccountSignatureKey: account.Pub[:], AccountSignature: sign(account, msg),
	})
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, q.advSecret)
	mac.Write(signed)
	return proto.Marshal(&waAdv.ADVSignedDeviceIdentityHMAC{
		Details: signed, HMAC: mac.Sum(nil), AccountType: waAdv.ADVEncryptionType_E2EE.Enum(),
	})
}

// finishPairing handles the companion's answer to <pair-success>: on <pair-device-sign> the
// device joins the account and is told to reconnect (stream error 515).
func (s *Server) finishPairing(c *conn, node *waBinary.Node) {
	s.mu.Lock()
	p := c.pairing
	if p == nil || p.acct == nil || attrString(node.Attrs["id"]) != p.iqID {
		s.mu.Unlock()
		return
	}
	if attrString(node.Attrs["type"]) != "result" {
		s.mu.Unlock()
		p.result <- fmt.Errorf("the device refused the pairing: %s", node.String())
		return
	}
	if _, ok := node.GetOptionalChildByTag("pair-device-sign"); !ok {
		s.mu.Unlock()
		p.result <- errors.New("the device answered without pair-device-sign")
		return
	}
	dev := &device{
		ID: p.devID, NoisePub: c.staticPub, Identity: p.identity, Registration: p.registration,
		SignedPreKey: p.signedPreKey, Platform: "sandbox", acct: p.acct,
	}
	p.acct.Devices[dev.ID] = dev
	for _, ref := range p.refs {
		delete(s.pairings, ref)
	}
	s.dirty = true
	s.notifyDevicesChanged(p.acct)
	s.mu.Unlock()
	c.sendAndClose(waBinary.Node{Tag: "stream:error", Attrs: waBinary.Attrs{"code": "515"}})
	p.result <- nil
}
