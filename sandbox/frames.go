package sandbox

import (
	"bytes"
	"errors"
	"fmt"

	"go.mau.fi/whatsmeow/socket"
)

// maxFrame caps one frame; whatsmeow's own limit is 16 MiB, the sandbox accepts less.
const maxFrame = 4 << 20

// frameReader splits the websocket byte stream into WhatsApp frames (3-byte big-endian length,
// then payload). The very first bytes a client sends are the 4-byte connection header.
type frameReader struct {
	needHeader bool
	buf        []byte
	ready      [][]byte // frames decoded but not yet consumed by the connection
	header     []byte   // the connection header the client sent
}

func newFrameReader() *frameReader { return &frameReader{needHeader: true} }

var errBadHeader = errors.New("connection does not start with the WA header")

// feed appends data and returns every complete frame it now holds.
func (r *frameReader) feed(data []byte) ([][]byte, error) {
	r.buf = append(r.buf, data...)
	if r.needHeader {
		if len(r.buf) < len(socket.WAConnHeader) {
			return nil, nil
		}
		if !bytes.Equal(r.buf[:2], socket.WAConnHeader[:2]) || r.buf[2] != socket.WAConnHeader[2] {
			return nil, errBadHeader
		}
		r.header = append([]byte(nil), r.buf[:len(socket.WAConnHeader)]...)
		r.buf = r.buf[len(socket.WAConnHeader):]
		r.needHeader = false
	}
	var frames [][]byte
	for len(r.buf) >= socket.FrameLengthSize {
		n := int(r.buf[0])<<16 | int(r.buf[1])<<8 | int(r.buf[2])
		if n > maxFrame {
			return frames, fmt.Errorf("frame of %d bytes exceeds the %d byte limit", n, maxFrame)
		}
		if len(r.buf) < socket.FrameLengthSize+n {
			break
		}
		frame := make([]byte, n)
		copy(frame, r.buf[socket.FrameLengthSize:socket.FrameLengthSize+n])
		frames = append(frames, frame)
		r.buf = r.buf[socket.FrameLengthSize+n:]
	}
	if len(r.buf) == 0 {
		r.buf = nil
	}
	return frames, nil
}

// encodeFrame prefixes payload with its 3-byte length.
func encodeFrame(payload []byte) []byte {
	n := len(payload)
	out := make([]byte, socket.FrameLengthSize+n)
	out[0], out[1], out[2] = byte(n>>16), byte(n>>8), byte(n)
	copy(out[socket.FrameLengthSize:], payload)
	return out
}
