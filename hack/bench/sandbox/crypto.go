package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	groupRecord "go.mau.fi/libsignal/groups/state/record"
	"go.mau.fi/libsignal/keys/identity"
	"go.mau.fi/libsignal/keys/prekey"
	"go.mau.fi/libsignal/protocol"
	"go.mau.fi/libsignal/serialize"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/libsignal/state/record"
	"go.mau.fi/libsignal/util/keyhelper"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
)

// serializer is the one whatsmeow uses for its Signal records.
var serializer = serialize.NewProtoBufSerializer()

// memStore is an in-memory Signal protocol store. Like whatsmeow's SQL store it keeps session
// records serialised, so every encrypt and decrypt pays the same (de)serialisation, but no I/O.
type memStore struct {
	identity   *identity.KeyPair
	regID      uint32
	preKeys    map[uint32]*record.PreKey
	signed     *record.SignedPreKey
	sessions   map[string][]byte
	identities map[string]*identity.Key
}

func newMemStore() (*memStore, error) {
	id, err := keyhelper.GenerateIdentityKeyPair()
	if err != nil {
		return nil, err
	}
	pks, err := keyhelper.GeneratePreKeys(1, 10, serializer.PreKeyRecord)
	if err != nil {
		return nil, err
	}
	signed, err := keyhelper.GenerateSignedPreKey(id, 1, serializer.SignedPreKeyRecord)
	if err != nil {
		return nil, err
	}
	s := &memStore{identity: id, regID: keyhelper.GenerateRegistrationID(), preKeys: map[uint32]*record.PreKey{},
		signed: signed, sessions: map[string][]byte{}, identities: map[string]*identity.Key{}}
	for _, pk := range pks {
		s.preKeys[pk.ID().Value] = pk
	}
	return s, nil
}

// bundle is what a peer would fetch from the server to start a session with this store.
func (s *memStore) bundle(deviceID uint32) *prekey.Bundle {
	var pk *record.PreKey
	for _, p := range s.preKeys {
		pk = p
		break
	}
	return prekey.NewBundle(s.regID, deviceID, pk.ID(), s.signed.ID(), pk.KeyPair().PublicKey(),
		s.signed.KeyPair().PublicKey(), s.signed.Signature(), s.identity.PublicKey())
}

func (s *memStore) GetIdentityKeyPair() *identity.KeyPair { return s.identity }
func (s *memStore) GetLocalRegistrationID() uint32        { return s.regID }
func (s *memStore) SaveIdentity(_ context.Context, a *protocol.SignalAddress, k *identity.Key) error {
	s.identities[a.String()] = k
	return nil
}
func (s *memStore) IsTrustedIdentity(context.Context, *protocol.SignalAddress, *identity.Key) (bool, error) {
	return true, nil
}
func (s *memStore) LoadPreKey(_ context.Context, id uint32) (*record.PreKey, error) {
	return s.preKeys[id], nil
}
func (s *memStore) StorePreKey(_ context.Context, id uint32, r *record.PreKey) error {
	s.preKeys[id] = r
	return nil
}
func (s *memStore) ContainsPreKey(_ context.Context, id uint32) (bool, error) {
	return s.preKeys[id] != nil, nil
}
func (s *memStore) RemovePreKey(_ context.Context, id uint32) error {
	delete(s.preKeys, id)
	return nil
}
func (s *memStore) LoadSignedPreKey(context.Context, uint32) (*record.SignedPreKey, error) {
	return s.signed, nil
}
func (s *memStore) LoadSignedPreKeys(context.Context) ([]*record.SignedPreKey, error) {
	return []*record.SignedPreKey{s.signed}, nil
}
func (s *memStore) StoreSignedPreKey(context.Context, uint32, *record.SignedPreKey) error { return nil }
func (s *memStore) ContainsSignedPreKey(_ context.Context, id uint32) (bool, error) {
	return id == s.signed.ID(), nil
}
func (s *memStore) RemoveSignedPreKey(context.Context, uint32) error { return nil }
func (s *memStore) LoadSession(_ context.Context, a *protocol.SignalAddress) (*record.Session, error) {
	raw, ok := s.sessions[a.String()]
	if !ok {
		return record.NewSession(serializer.Session, serializer.State), nil
	}
	return record.NewSessionFromBytes(raw, serializer.Session, serializer.State)
}
func (s *memStore) GetSubDeviceSessions(context.Context, string) ([]uint32, error) { return nil, nil }
func (s *memStore) StoreSession(_ context.Context, a *protocol.SignalAddress, r *record.Session) error {
	s.sessions[a.String()] = r.Serialize()
	return nil
}
func (s *memStore) ContainsSession(_ context.Context, a *protocol.SignalAddress) (bool, error) {
	_, ok := s.sessions[a.String()]
	return ok, nil
}
func (s *memStore) DeleteSession(_ context.Context, a *protocol.SignalAddress) error {
	delete(s.sessions, a.String())
	return nil
}
func (s *memStore) DeleteAllSessions(context.Context) error {
	clear(s.sessions)
	return nil
}
func (s *memStore) StoreSenderKey(context.Context, *protocol.SenderKeyName, *groupRecord.SenderKey) error {
	return nil
}
func (s *memStore) LoadSenderKey(context.Context, *protocol.SenderKeyName) (*groupRecord.SenderKey, error) {
	return nil, nil
}

// cryptoPair is one sender with sessions to `peers` recipient devices.
type cryptoPair struct {
	sender   *memStore
	senderAt *protocol.SignalAddress
	peers    []*memStore
	peerAt   []*protocol.SignalAddress
}

func newCryptoPair(ctx context.Context, peers int) (*cryptoPair, error) {
	sender, err := newMemStore()
	if err != nil {
		return nil, err
	}
	p := &cryptoPair{sender: sender, senderAt: protocol.NewSignalAddress("sender", 1)}
	for i := range peers {
		peer, err := newMemStore()
		if err != nil {
			return nil, err
		}
		at := protocol.NewSignalAddress(fmt.Sprintf("peer%d", i), uint32(i))
		if err := session.NewBuilderFromSignal(sender, at, serializer).ProcessBundle(ctx, peer.bundle(uint32(i))); err != nil {
			return nil, fmt.Errorf("processing bundle: %w", err)
		}
		p.peers, p.peerAt = append(p.peers, peer), append(p.peerAt, at)
	}
	return p, nil
}

// message encrypts one text message for every peer (whatsmeow's padding and protobuf included)
// and has the first `decrypting` peers decrypt their copy.
func (p *cryptoPair) message(ctx context.Context, text string, decrypting int) error {
	plain, err := proto.Marshal(&waE2E.Message{Conversation: proto.String(text)})
	if err != nil {
		return err
	}
	pad := make([]byte, 1)
	_, _ = rand.Read(pad)
	n := int(pad[0]%15) + 1 // whatsmeow pads with 1–15 bytes of value n
	for range n {
		plain = append(plain, byte(n))
	}
	for i, peer := range p.peers {
		ct, err := session.NewCipher(session.NewBuilderFromSignal(p.sender, p.peerAt[i], serializer), p.peerAt[i]).Encrypt(ctx, plain)
		if err != nil {
			return fmt.Errorf("encrypt: %w", err)
		}
		if i >= decrypting {
			continue
		}
		if err := decrypt(ctx, peer, p.senderAt, ct); err != nil {
			return err
		}
	}
	return nil
}

func decrypt(ctx context.Context, s *memStore, from *protocol.SignalAddress, ct protocol.CiphertextMessage) error {
	cipher := session.NewCipher(session.NewBuilderFromSignal(s, from, serializer), from)
	raw := ct.Serialize() // as received from the wire
	var plain []byte
	var err error
	if ct.Type() == protocol.PREKEY_TYPE {
		var msg *protocol.PreKeySignalMessage
		if msg, err = protocol.NewPreKeySignalMessageFromBytes(raw, serializer.PreKeySignalMessage, serializer.SignalMessage); err == nil {
			plain, err = cipher.DecryptMessage(ctx, msg)
		}
	} else {
		var msg *protocol.SignalMessage
		if msg, err = protocol.NewSignalMessageFromBytes(raw, serializer.SignalMessage); err == nil {
			plain, err = cipher.Decrypt(ctx, msg)
		}
	}
	if err != nil {
		return fmt.Errorf("decrypt: %w", err)
	}
	var m waE2E.Message
	return proto.Unmarshal(plain[:len(plain)-int(plain[len(plain)-1])], &m)
}

// cryptoThroughput runs `pairs` independent senders concurrently, each sending `messages`
// messages encrypted for `peers` devices of which `decrypting` decrypt, and returns messages/s.
func cryptoThroughput(ctx context.Context, pairs, messages, peers, decrypting int) (float64, error) {
	ps := make([]*cryptoPair, pairs)
	for i := range ps {
		var err error
		if ps[i], err = newCryptoPair(ctx, peers); err != nil {
			return 0, err
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, pairs)
	start := time.Now()
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range messages {
				if err := p.message(ctx, fmt.Sprintf("bench message %d", j), decrypting); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Now().Sub(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return float64(pairs*messages) / elapsed.Seconds(), nil
}
