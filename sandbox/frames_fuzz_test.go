package sandbox

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"go.mau.fi/whatsmeow/proto/waWa6"
	"go.mau.fi/whatsmeow/socket"
)

func TestFrameReaderSplitsAndJoins(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 10), bytes.Repeat([]byte{2}, 70000)
	stream := append(append(append([]byte{}, socket.WAConnHeader...), encodeFrame(a)...), encodeFrame(b)...)
	// Feed the stream in awkward pieces: frames split across and joined within messages.
	for _, step := range []int{1, 2, 3, 7, 4096, len(stream)} {
		r := newFrameReader()
		var got [][]byte
		for i := 0; i < len(stream); i += step {
			frames, err := r.feed(stream[i:min(i+step, len(stream))])
			if err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			got = append(got, frames...)
		}
		if len(got) != 2 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) {
			t.Fatalf("step %d: got %d frames", step, len(got))
		}
		if !bytes.Equal(r.header, socket.WAConnHeader) {
			t.Fatalf("step %d: header %v", step, r.header)
		}
	}
}

func TestFrameReaderRejectsBadInput(t *testing.T) {
	if _, err := newFrameReader().feed([]byte("GET / HTTP/1.1")); err == nil {
		t.Fatal("a stream without the WA header must be refused")
	}
	huge := append(append([]byte{}, socket.WAConnHeader...), 0xFF, 0xFF, 0xFF)
	if _, err := newFrameReader().feed(huge); err == nil {
		t.Fatal("a frame over the limit must be refused")
	}
}

// FuzzFrameReader feeds arbitrary bytes to the frame parser and the handshake decoding that
// follows it: nothing may panic, and frames must come back exactly as encoded.
func FuzzFrameReader(f *testing.F) {
	hello, _ := proto.Marshal(&waWa6.HandshakeMessage{ClientHello: &waWa6.HandshakeMessage_ClientHello{Ephemeral: make([]byte, 32)}})
	f.Add(append(append([]byte{}, socket.WAConnHeader...), encodeFrame(hello)...), 3)
	f.Add([]byte("WA\x06\x03\x00\x00\x05hello\x00\x00"), 1)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, data []byte, step int) {
		if step <= 0 {
			step = len(data) + 1
		}
		r := newFrameReader()
		for i := 0; i < len(data); i += step {
			frames, err := r.feed(data[i:min(i+step, len(data))])
			if err != nil {
				return
			}
			for _, fr := range frames {
				var hm waWa6.HandshakeMessage
				_ = proto.Unmarshal(fr, &hm)
				_, _ = decodeNode(fr)
				r2 := newFrameReader()
				back, err := r2.feed(append(append([]byte{}, socket.WAConnHeader...), encodeFrame(fr)...))
				if err != nil || len(back) != 1 || !bytes.Equal(back[0], fr) {
					t.Fatalf("frame did not round-trip")
				}
			}
		}
	})
}
