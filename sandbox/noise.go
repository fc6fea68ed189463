package sandbox

import (
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"

	"go.mau.fi/whatsmeow/socket"
	"go.mau.fi/whatsmeow/util/gcmutil"
)

// noiseResponder is the server side of WhatsApp's Noise_XX_25519_AESGCM_SHA256 handshake.
// whatsmeow's socket.NoiseHandshake only knows the initiator's final step, so the responder keeps
// its own chaining key (salt) to derive the transport keys.
type noiseResponder struct {
	hash    []byte
	salt    []byte
	key     cipher.AEAD
	counter uint32
}

func newNoiseResponder(header []byte) (*noiseResponder, error) {
	n := &noiseResponder{hash: []byte(socket.NoiseStartPattern)}
	n.salt = n.hash
	var err error
	if n.key, err = gcmutil.Prepare(n.hash); err != nil {
		return nil, err
	}
	n.authenticate(header)
	return n, nil
}

func (n *noiseResponder) authenticate(data []byte) {
	h := sha256.Sum256(append(append([]byte{}, n.hash...), data...))
	n.hash = h[:]
}

func (n *noiseResponder) encrypt(plaintext []byte) []byte {
	ct := n.key.Seal(nil, nonce(n.counter), plaintext, n.hash)
	n.counter++
	n.authenticate(ct)
	return ct
}

func (n *noiseResponder) decrypt(ciphertext []byte) ([]byte, error) {
	pt, err := n.key.Open(nil, nonce(n.counter), ciphertext, n.hash)
	n.counter++
	if err != nil {
		return nil, fmt.Errorf("noise handshake decrypt: %w", err)
	}
	n.authenticate(ciphertext)
	return pt, nil
}

// mixDH mixes the X25519 shared secret of priv and pub into the chaining key.
func (n *noiseResponder) mixDH(priv, pub []byte) error {
	secret, err := curve25519.X25519(priv, pub)
	if err != nil {
		return fmt.Errorf("noise dh: %w", err)
	}
	write, read, err := expand(n.salt, secret)
	if err != nil {
		return err
	}
	n.salt, n.counter = write, 0
	n.key, err = gcmutil.Prepare(read)
	return err
}

// split derives the transport ciphers: the initiator writes with the first key, so the
// responder reads with it and writes with the second.
func (n *noiseResponder) split() (read, write cipher.AEAD, err error) {
	k1, k2, err := expand(n.salt, nil)
	if err != nil {
		return nil, nil, err
	}
	if read, err = gcmutil.Prepare(k1); err != nil {
		return nil, nil, err
	}
	write, err = gcmutil.Prepare(k2)
	return read, write, err
}

func expand(salt, secret []byte) (a, b []byte, err error) {
	r := hkdf.New(sha256.New, secret, salt, nil)
	a, b = make([]byte, 32), make([]byte, 32)
	if _, err = io.ReadFull(r, a); err == nil {
		_, err = io.ReadFull(r, b)
	}
	return a, b, err
}

// nonce is the 12-byte AES-GCM IV: 8 zero bytes and a big-endian counter.
func nonce(counter uint32) []byte {
	iv := make([]byte, 12)
	binary.BigEndian.PutUint32(iv[8:], counter)
	return iv
}

// transport encrypts and decrypts frames after the handshake, each direction with its own counter.
type transport struct {
	read, write               cipher.AEAD
	readCounter, writeCounter uint32
}

func (t *transport) open(frame []byte) ([]byte, error) {
	pt, err := t.read.Open(nil, nonce(t.readCounter), frame, nil)
	t.readCounter++
	if err != nil {
		return nil, errors.New("undecryptable frame")
	}
	return pt, nil
}

func (t *transport) seal(plaintext []byte) []byte {
	ct := t.write.Seal(nil, nonce(t.writeCounter), plaintext, nil)
	t.writeCounter++
	return ct
}
