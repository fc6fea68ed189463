package chat

import (
	"errors"
	"strings"
	"testing"
)

func TestParseChatID(t *testing.T) {
	tests := []struct {
		in, want, jid string
		kind          Kind
	}{
		{"17472822486@c.us", "17472822486@c.us", "17472822486@s.whatsapp.net", Person},
		{"17472822486@s.whatsapp.net", "17472822486@c.us", "17472822486@s.whatsapp.net", Person},
		{" 17472822486@C.US ", "17472822486@c.us", "17472822486@s.whatsapp.net", Person},
		{"120363025246125486@g.us", "120363025246125486@g.us", "120363025246125486@g.us", Group},
		{"17472822486-1520000000@g.us", "17472822486-1520000000@g.us", "17472822486-1520000000@g.us", Group},
		{"236523865788507@lid", "236523865788507@lid", "236523865788507@lid", LID},
	}
	for _, tt := range tests {
		id, err := ParseChatID(tt.in)
		if err != nil {
			t.Errorf("ParseChatID(%q): %v", tt.in, err)
			continue
		}
		if id.String() != tt.want || id.JID() != tt.jid || id.Kind != tt.kind {
			t.Errorf("ParseChatID(%q) = %s / %s / %v", tt.in, id, id.JID(), id.Kind)
		}
	}
	for _, bad := range []string{"", "17472822486", "abc@c.us", "1234@c.us", "1747282248612345@c.us",
		"17472822486:12@s.whatsapp.net", "17472822486@example.com", "@g.us", "12-@g.us", "a-1@g.us", "x@lid",
		"status@broadcast"} {
		if _, err := ParseChatID(bad); !errors.Is(err, ErrBadChatID) {
			t.Errorf("ParseChatID(%q) = %v, want ErrBadChatID", bad, err)
		}
	}
}

func TestParsePhone(t *testing.T) {
	for in, want := range map[string]string{
		"17472822486": "17472822486@c.us", "+1 (747) 282-2486": "17472822486@c.us", "49.151.1234567": "491511234567@c.us",
	} {
		id, err := ParsePhone(in)
		if err != nil || id.String() != want {
			t.Errorf("ParsePhone(%q) = %s, %v; want %s", in, id, err, want)
		}
	}
	for _, bad := range []string{"", "0123456789", "1234", "1234567890123456", "17472822486@c.us", "1747a", "1+747"} {
		if _, err := ParsePhone(bad); !errors.Is(err, ErrBadPhone) {
			t.Errorf("ParsePhone(%q) = %v, want ErrBadPhone", bad, err)
		}
	}
}

func TestResolve(t *testing.T) {
	if id, err := Resolve("", "17472822486"); err != nil || id.String() != "17472822486@c.us" {
		t.Errorf("phone only: %s %v", id, err)
	}
	if id, err := Resolve("17472822486@c.us", "+17472822486"); err != nil || id.Kind != Person {
		t.Errorf("both agreeing: %s %v", id, err)
	}
	for _, pair := range [][2]string{{"", ""}, {"17472822486@c.us", "79680565372"}, {"x", ""}} {
		if _, err := Resolve(pair[0], pair[1]); !errors.Is(err, ErrBadChatID) {
			t.Errorf("Resolve(%q, %q) = %v", pair[0], pair[1], err)
		}
	}
}

func TestMessageID(t *testing.T) {
	waid := NewWAID()
	if len(waid) != 22 || !strings.HasPrefix(waid, "3EB0") || waid == NewWAID() {
		t.Fatalf("NewWAID = %q", waid)
	}
	chatID, _ := ParseChatID("17472822486@c.us")
	m := MessageID{FromMe: true, Chat: chatID, WAID: waid}
	s := m.String()
	if s != "true_17472822486@c.us_"+waid {
		t.Fatalf("String = %q", s)
	}
	back, err := ParseMessageID(s)
	if err != nil || back != m {
		t.Fatalf("ParseMessageID(%q) = %+v, %v", s, back, err)
	}
	g, err := ParseMessageID("false_17472822486-1520000000@g.us_3EB0ABC_79680565372@c.us")
	if err != nil || g.FromMe || g.Chat.Kind != Group || g.WAID != "3EB0ABC" {
		t.Fatalf("group id = %+v, %v", g, err)
	}
	for _, bad := range []string{"", "true", "maybe_17472822486@c.us_X", "true_bad_X", "true_17472822486@c.us_",
		"true_17472822486@c.us_A B", "a_b_c_d_e"} {
		if _, err := ParseMessageID(bad); err == nil {
			t.Errorf("ParseMessageID(%q) accepted", bad)
		}
	}
}

func TestAckRankOrder(t *testing.T) {
	if !(AckRank(AckSent) < AckRank(AckDelivered) && AckRank(AckDelivered) < AckRank(AckViewed)) || AckRank("x") != 0 {
		t.Fatal("ack ranks out of order")
	}
}

func FuzzParseChatID(f *testing.F) {
	for _, s := range []string{"17472822486@c.us", "1-2@g.us", "5@lid", "x@s.whatsapp.net", "@", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseChatID(s)
		if err != nil {
			return
		}
		// A parsed id prints in a form that parses back to itself, in both forms.
		again, err := ParseChatID(id.String())
		if err != nil || again != id {
			t.Fatalf("%q -> %s does not round-trip: %v", s, id, err)
		}
		viaJID, err := ParseChatID(id.JID())
		if err != nil || viaJID != id {
			t.Fatalf("%q -> %s does not round-trip: %v", s, id.JID(), err)
		}
	})
}

func FuzzParseMessageID(f *testing.F) {
	f.Add("true_17472822486@c.us_3EB0ABC")
	f.Add("false_1-2@g.us_3EB0_5@c.us")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMessageID(s)
		if err != nil {
			return
		}
		again, err := ParseMessageID(m.String())
		if err != nil || again != m {
			t.Fatalf("%q -> %s does not round-trip: %v", s, m, err)
		}
	})
}

// Clients of chat-api.com mix phone and chatId up and write numbers in many ways.
func TestResolveLenient(t *testing.T) {
	for _, c := range []struct{ chatID, phone, want string }{
		{"", "+17472822486", "17472822486@c.us"},
		{"", "+1 (747) 282-2486", "17472822486@c.us"},
		{"", "17472822486@c.us", "17472822486@c.us"},
		{"", "17472822486@s.whatsapp.net", "17472822486@c.us"},
		{"17472822486", "", "17472822486@c.us"},
		{"+17472822486", "", "17472822486@c.us"},
		{"120363000000000001@g.us", "", "120363000000000001@g.us"},
		{"17472822486", "17472822486@c.us", "17472822486@c.us"},
	} {
		id, err := Resolve(c.chatID, c.phone)
		if err != nil || id.String() != c.want {
			t.Errorf("Resolve(%q, %q) = %s %v, want %s", c.chatID, c.phone, id, err, c.want)
		}
	}
	for _, pair := range [][2]string{{"", "1747abc"}, {"12", ""}, {"", "x@c.us"}, {"17472822486", "79680565372@c.us"}} {
		if _, err := Resolve(pair[0], pair[1]); !errors.Is(err, ErrBadChatID) {
			t.Errorf("Resolve(%q, %q) = %v", pair[0], pair[1], err)
		}
	}
}
