package sandbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/pbkdf2"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/hkdfutil"
	"go.mau.fi/whatsmeow/util/keys"
)

// codePairing is a companion's request to link by an 8-character code instead of a QR code. The
// code never reaches the server: it keys the wrapping of both sides' ephemeral keys.
type codePairing struct {
	phone   string // the account the companion wants to join
	ref     string
	wrapped []byte // the companion's wrapped ephemeral key: salt(32) iv(16) encrypted key(32)
	// Set when the phone entered the code.
	primary      *keys.KeyPair
	companionEph []byte
	finished     chan codeResult
}

type codeResult struct {
	identity, advSecret []byte
	err                 error
}

// Errors of pairing by code.
var (
	ErrNoCodePairing = errors.New("no device is waiting to be linked to this phone by code")
	ErrWrongCode     = errors.New("the code does not match the device's")
)

// iqLinkCode serves the companion's side of pairing by code: companion_hello (it asks to join a
// phone number) and companion_finish (it sends its key bundle).
func (s *Server) iqLinkCode(c *conn, node *waBinary.Node, reg waBinary.Node) {
	switch attrString(reg.Attrs["stage"]) {
	case "companion_hello":
		jid, _ := reg.Attrs["jid"].(types.JID)
		wrapped, _ := reg.GetChildByTag("link_code_pairing_wrapped_companion_ephemeral_pub").Content.([]byte)
		s.mu.Lock()
		if c.pairing == nil || len(wrapped) != 80 || s.byPhone[jid.User] == nil {
			s.mu.Unlock()
			replyError(c, node, 400, "bad-request")
			return
		}
		cp := &codePairing{phone: jid.User, ref: randomID(16), wrapped: wrapped}
		c.pairing.code = cp
		s.codePairings[jid.User] = c
		s.mu.Unlock()
		reply(c, node, waBinary.Node{Tag: "link_code_companion_reg", Content: []waBinary.Node{
			{Tag: "link_code_pairing_ref", Content: []byte(cp.ref)},
		}})
	case "companion_finish":
		s.mu.Lock()
		cp := c.pairing.codeOrNil()
		s.mu.Unlock()
		if cp == nil || cp.primary == nil {
			replyError(c, node, 400, "bad-request")
			return
		}
		reply(c, node)
		cp.finished <- cp.openBundle(reg)
	default:
		replyError(c, node, 501, "feature-not-implemented")
	}
}

func (p *pairing) codeOrNil() *codePairing {
	if p == nil {
		return nil
	}
	return p.code
}

// linkByCode is what a phone does when its user types the code a companion shows: it answers the
// companion with its own wrapped ephemeral key, checks the companion's key bundle, and pairs it.
func (s *Server) linkByCode(acct *account, phoneIdentity *keys.KeyPair, platform, code string, timeout time.Duration) (string, error) {
	code = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(code), "-", ""))
	if len(code) != 8 {
		return "", fmt.Errorf("%w: a linking code has 8 characters", ErrQRInvalid)
	}
	s.mu.Lock()
	c := s.codePairings[acct.Phone]
	var cp *codePairing
	if c != nil {
		cp = c.pairing.codeOrNil()
	}
	if cp == nil || cp.primary != nil {
		s.mu.Unlock()
		return "", ErrNoCodePairing
	}
	delete(s.codePairings, acct.Phone)
	cp.primary, cp.finished = keys.NewKeyPair(), make(chan codeResult, 1)
	cp.companionEph = unwrapKey(code, cp.wrapped)
	s.mu.Unlock()

	c.send(waBinary.Node{Tag: "notification", Attrs: waBinary.Attrs{
		"from": serverJID, "type": "link_code_companion_reg", "id": randomID(8), "t": time.Now().Unix(),
	}, Content: []waBinary.Node{{Tag: "link_code_companion_reg", Attrs: waBinary.Attrs{"stage": "primary_hello"}, Content: []waBinary.Node{
		{Tag: "link_code_pairing_ref", Content: []byte(cp.ref)},
		{Tag: "link_code_pairing_wrapped_primary_ephemeral_pub", Content: wrapKey(code, cp.primary.Pub[:])},
		{Tag: "primary_identity_pub", Content: phoneIdentity.Pub[:]},
	}}}})
	var res codeResult
	select {
	case res = <-cp.finished:
	case <-time.After(timeout):
		return "", errors.New("the device did not finish pairing by code in time")
	}
	if res.err != nil {
		return "", res.err // the companion keeps its connection and may ask for a new code
	}
	identityShared, err := curve25519.X25519(phoneIdentity.Priv[:], res.identity)
	if err != nil {
		return "", err
	}
	// adv secret = HKDF(ephemeral shared ‖ identity shared ‖ random), as the companion computes it.
	advSecret := hkdfutil.SHA256(append(append(res.advSecret[:32:32], identityShared...), res.advSecret[32:]...), nil, []byte("adv_secret"), 32)
	return s.pairSuccess(c, acct, phoneIdentity, platform, qrData{noise: c.staticPub, identity: res.identity, advSecret: advSecret}, timeout)
}

// openBundle decrypts the companion's key bundle; advSecret carries ephemeral shared secret and
// the companion's random part for linkByCode to finish the adv secret.
func (cp *codePairing) openBundle(reg waBinary.Node) codeResult {
	wrapped, _ := reg.GetChildByTag("link_code_pairing_wrapped_key_bundle").Content.([]byte)
	identity, _ := reg.GetChildByTag("companion_identity_public").Content.([]byte)
	if len(wrapped) < 44+16 || len(identity) != 32 || len(cp.companionEph) != 32 {
		return codeResult{err: errors.New("malformed key bundle from the device")}
	}
	shared, err := curve25519.X25519(cp.primary.Priv[:], cp.companionEph)
	if err != nil {
		return codeResult{err: ErrWrongCode}
	}
	key := hkdfutil.SHA256(shared, wrapped[:32], []byte("link_code_pairing_key_bundle_encryption_key"), 32)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	plain, err := gcm.Open(nil, wrapped[32:44], wrapped[44:], nil)
	if err != nil || len(plain) != 96 {
		return codeResult{err: ErrWrongCode}
	}
	return codeResult{identity: plain[:32], advSecret: append(append([]byte{}, shared...), plain[64:96]...)}
}

// linkKey derives the AES key that wraps an ephemeral key under the linking code.
func linkKey(code string, salt []byte) cipher.Block {
	block, _ := aes.NewCipher(pbkdf2.Key([]byte(code), salt, 2<<16, 32, sha256.New))
	return block
}

// unwrapKey decrypts salt(32) iv(16) key(32).
func unwrapKey(code string, wrapped []byte) []byte {
	out := make([]byte, 32)
	cipher.NewCTR(linkKey(code, wrapped[:32]), wrapped[32:48]).XORKeyStream(out, wrapped[48:80])
	return out
}

// wrapKey encrypts a key as salt(32) iv(16) key(32).
func wrapKey(code string, key []byte) []byte {
	out := make([]byte, 80)
	_, _ = rand.Read(out[:48])
	cipher.NewCTR(linkKey(code, out[:32]), out[32:48]).XORKeyStream(out[48:], key)
	return out
}
