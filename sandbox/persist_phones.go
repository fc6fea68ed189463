package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
)

// phoneMessagesFile holds what each phone shows (its message list), written when a persistent
// sandbox stops, so a restarted sandbox's phones still show what they received before: a phone
// keeps its chats across a restart of the network, and the offline queues of network.json hold
// only what no phone acknowledged yet. A sandbox killed with SIGKILL forgets the lists.
const phoneMessagesFile = "phone-messages.json"

// storedPhoneMessage is a PhoneMessage with what its JSON form leaves out.
type storedPhoneMessage struct {
	PhoneMessage
	ChatJID   string `json:"chatJid,omitempty"`
	SenderJID string `json:"senderJid,omitempty"`
	// Content is the message's waE2E.Message (protobuf), for replies that quote it.
	Content []byte `json:"content,omitempty"`
}

// savePhoneMessages writes every phone's message list. Call it once the phones are stopped.
func (s *Server) savePhoneMessages() error {
	s.mu.Lock()
	phones := make([]*Phone, 0, len(s.phones))
	for _, p := range s.phones {
		phones = append(phones, p)
	}
	s.mu.Unlock()
	all := map[string][]storedPhoneMessage{}
	for _, p := range phones {
		p.mu.Lock()
		list := make([]storedPhoneMessage, 0, len(p.messages))
		for _, m := range p.messages {
			st := storedPhoneMessage{PhoneMessage: m.clone()}
			if !m.chat.IsEmpty() {
				st.ChatJID = m.chat.String()
			}
			if !m.sender.IsEmpty() {
				st.SenderJID = m.sender.String()
			}
			if m.msg != nil {
				st.Content, _ = proto.Marshal(m.msg)
			}
			list = append(list, st)
		}
		p.mu.Unlock()
		all[p.acct.Phone] = list
	}
	raw, err := json.Marshal(all)
	if err != nil {
		return fmt.Errorf("encoding the phones' messages: %w", err)
	}
	return writeAtomic(filepath.Join(s.opts.DataDir, phoneMessagesFile), raw)
}

// loadPhoneMessages reads the lists savePhoneMessages wrote, by phone number (none for a new or
// in-memory sandbox).
func loadPhoneMessages(dataDir string) (map[string][]*PhoneMessage, error) {
	if dataDir == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(filepath.Join(dataDir, phoneMessagesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading %s: %w", phoneMessagesFile, err)
	}
	var all map[string][]storedPhoneMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", phoneMessagesFile, err)
	}
	out := make(map[string][]*PhoneMessage, len(all))
	for phone, list := range all {
		msgs := make([]*PhoneMessage, 0, len(list))
		for _, st := range list {
			m := st.PhoneMessage
			m.chat, _ = types.ParseJID(st.ChatJID)
			m.sender, _ = types.ParseJID(st.SenderJID)
			if len(st.Content) > 0 {
				var c waE2E.Message
				if proto.Unmarshal(st.Content, &c) == nil {
					m.msg = &c
				}
			}
			msgs = append(msgs, &m)
		}
		out[phone] = msgs
	}
	return out, nil
}

// restoreMessages gives a phone the list it showed before the sandbox stopped.
func (p *Phone) restoreMessages(msgs []*PhoneMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.messages = msgs
	for _, m := range msgs {
		p.byID[m.ID] = m
	}
}
