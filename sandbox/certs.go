package sandbox

import (
	"fmt"
	"time"

	"go.mau.fi/libsignal/ecc"
	"google.golang.org/protobuf/proto"

	"go.mau.fi/whatsmeow/proto/waCert"
	"go.mau.fi/whatsmeow/util/keys"
)

// trustChain is the sandbox's Noise identity: a root key (published at /sandbox/info), an
// intermediate certificate signed by it, and a leaf certificate for the server's static key.
type trustChain struct {
	root   *keys.KeyPair
	static *keys.KeyPair
	chain  []byte // marshalled waCert.CertChain
}

// certValidity is how long the generated certificates are valid, both ways from now.
const certValidity = 10 * 365 * 24 * time.Hour

func newTrustChain(root *keys.KeyPair) (*trustChain, error) {
	static := keys.NewKeyPair()
	inter := keys.NewKeyPair()
	now := time.Now()
	notBefore := uint64(now.Add(-24 * time.Hour).Unix())
	notAfter := uint64(now.Add(certValidity).Unix())
	interDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial: proto.Uint32(1), IssuerSerial: proto.Uint32(0), Key: inter.Pub[:],
		NotBefore: proto.Uint64(notBefore), NotAfter: proto.Uint64(notAfter),
	})
	if err != nil {
		return nil, fmt.Errorf("marshal intermediate certificate: %w", err)
	}
	leafDetails, err := proto.Marshal(&waCert.CertChain_NoiseCertificate_Details{
		Serial: proto.Uint32(2), IssuerSerial: proto.Uint32(1), Key: static.Pub[:],
		NotBefore: proto.Uint64(notBefore), NotAfter: proto.Uint64(notAfter),
	})
	if err != nil {
		return nil, fmt.Errorf("marshal leaf certificate: %w", err)
	}
	chain, err := proto.Marshal(&waCert.CertChain{
		Intermediate: &waCert.CertChain_NoiseCertificate{Details: interDetails, Signature: sign(root, interDetails)},
		Leaf:         &waCert.CertChain_NoiseCertificate{Details: leafDetails, Signature: sign(inter, leafDetails)},
	})
	if err != nil {
		return nil, fmt.Errorf("marshal certificate chain: %w", err)
	}
	return &trustChain{root: root, static: static, chain: chain}, nil
}

// sign makes an XEdDSA signature of msg with a Curve25519 key pair, as WhatsApp does.
func sign(kp *keys.KeyPair, msg []byte) []byte {
	sig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*kp.Priv), msg)
	return sig[:]
}
