package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waWa6"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

const (
	handshakeTimeout = 20 * time.Second
	writeTimeout     = 10 * time.Second
	// maxOutbox bounds the bytes waiting for a slow client; beyond it the client is dropped
	// (its undelivered nodes stay pending for its next login).
	maxOutbox = 64 << 20
	// maxWrite caps the frames coalesced into one websocket message.
	maxWrite = 1 << 20
)

// conn is one client websocket: Noise transport, then binary XML nodes.
type conn struct {
	srv    *Server
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	tr        transport
	staticPub []byte
	payload   *waWa6.ClientPayload
	outMu     sync.Mutex
	out       []outFrame    // frames waiting for the writer, in order
	outBytes  int           // their total size
	outReady  chan struct{} // wakes the writer

	// Set once, under srv.mu: the device this connection logged in as, or the pairing it offers.
	dev     *device
	pairing *pairing

	closeOnce sync.Once
	stale     atomic.Bool // the stale fault: read, but answer nothing (fault_stale.go)
}

type outFrame struct {
	data  []byte
	close bool // close the connection once this frame is written
}

// serveWS accepts a websocket at /ws/chat and runs one client connection to its end.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	ws.SetReadLimit(maxFrame + 16)
	s.mu.Lock()
	if s.ctx.Err() != nil { // stopping: Close waits for the connections it counted already
		s.mu.Unlock()
		_ = ws.CloseNow()
		return
	}
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()
	ctx, cancel := context.WithCancel(s.ctx)
	c := &conn{srv: s, ws: ws, ctx: ctx, cancel: cancel, log: s.log, outReady: make(chan struct{}, 1)}
	defer c.close()
	frames := newFrameReader()
	next := func() ([]byte, error) { return c.nextFrame(frames) }
	if err := c.handshake(next, frames); err != nil {
		c.log.Debug("handshake failed", "err", err)
		return
	}
	go c.writeLoop()
	s.onConnect(c)
	defer s.onDisconnect(c)
	for {
		frame, err := next()
		if err != nil {
			return
		}
		plain, err := c.tr.open(frame)
		if err != nil {
			c.log.Debug("dropping client", "err", err)
			return
		}
		node, err := decodeNode(plain)
		if err != nil {
			c.log.Debug("dropping client after malformed node", "err", err)
			return
		}
		s.handleNode(c, node)
	}
}

func (c *conn) nextFrame(r *frameReader) ([]byte, error) {
	for len(r.ready) == 0 {
		_, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return nil, err
		}
		frames, err := r.feed(data)
		if err != nil {
			return nil, err
		}
		r.ready = append(r.ready, frames...)
	}
	f := r.ready[0]
	r.ready = r.ready[1:]
	return f, nil
}

// handshake runs the responder side of Noise XX and reads the client's payload.
func (c *conn) handshake(next func() ([]byte, error), frames *frameReader) error {
	hctx, cancel := context.WithTimeout(c.ctx, handshakeTimeout)
	defer cancel()
	stop := context.AfterFunc(hctx, func() {
		if hctx.Err() == context.DeadlineExceeded {
			c.close()
		}
	})
	defer stop()
	first, err := next()
	if err != nil {
		return err
	}
	var hello waWa6.HandshakeMessage
	if err := proto.Unmarshal(first, &hello); err != nil {
		return fmt.Errorf("client hello: %w", err)
	}
	clientEph := hello.GetClientHello().GetEphemeral()
	if len(clientEph) != 32 {
		return errors.New("client hello without a 32-byte ephemeral key")
	}
	nr, err := newNoiseResponder(frames.header)
	if err != nil {
		return err
	}
	trust := c.srv.trust
	eph := keys.NewKeyPair()
	nr.authenticate(clientEph)
	nr.authenticate(eph.Pub[:])
	if err := nr.mixDH(eph.Priv[:], clientEph); err != nil {
		return err
	}
	staticCT := nr.encrypt(trust.static.Pub[:])
	if err := nr.mixDH(trust.static.Priv[:], clientEph); err != nil {
		return err
	}
	certCT := nr.encrypt(trust.chain)
	reply, err := proto.Marshal(&waWa6.HandshakeMessage{ServerHello: &waWa6.HandshakeMessage_ServerHello{
		Ephemeral: eph.Pub[:], Static: staticCT, Payload: certCT,
	}})
	if err != nil {
		return err
	}
	if err := c.ws.Write(hctx, websocket.MessageBinary, encodeFrame(reply)); err != nil {
		return err
	}
	finishRaw, err := next()
	if err != nil {
		return err
	}
	var finish waWa6.HandshakeMessage
	if err := proto.Unmarshal(finishRaw, &finish); err != nil {
		return fmt.Errorf("client finish: %w", err)
	}
	static, err := nr.decrypt(finish.GetClientFinish().GetStatic())
	if err != nil || len(static) != 32 {
		return fmt.Errorf("client static key: %w", errors.Join(err, errors.New("bad static key")))
	}
	if err := nr.mixDH(eph.Priv[:], static); err != nil {
		return err
	}
	payloadRaw, err := nr.decrypt(finish.GetClientFinish().GetPayload())
	if err != nil {
		return err
	}
	var payload waWa6.ClientPayload
	if err := proto.Unmarshal(payloadRaw, &payload); err != nil {
		return fmt.Errorf("client payload: %w", err)
	}
	read, write, err := nr.split()
	if err != nil {
		return err
	}
	c.tr = transport{read: read, write: write}
	c.staticPub = static
	c.payload = &payload
	return nil
}

// send queues a node for the client; a client too slow to take its outbox is disconnected.
func (c *conn) send(node waBinary.Node) { c.sendRaw(mustMarshal(node), false) }

// sendAndClose sends a final node (a stream error or failure) and then closes the connection.
func (c *conn) sendAndClose(node waBinary.Node) { c.sendRaw(mustMarshal(node), true) }

func (c *conn) sendRaw(data []byte, closeAfter bool) {
	if c.silent() && !closeAfter {
		return // stale: nothing reaches the client (pending nodes wait for the next login)
	}
	c.outMu.Lock()
	if c.outBytes+len(data) > maxOutbox {
		c.outMu.Unlock()
		c.log.Warn("client outbox full, disconnecting it")
		c.close()
		return
	}
	c.out = append(c.out, outFrame{data: data, close: closeAfter})
	c.outBytes += len(data)
	c.outMu.Unlock()
	select {
	case c.outReady <- struct{}{}:
	default:
	}
}

// takeOut removes the frames to write next: as many as fit one websocket message, up to and
// including a closing frame.
func (c *conn) takeOut() (batch []outFrame) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	size := 0
	for len(c.out) > 0 && (len(batch) == 0 || size+len(c.out[0].data) <= maxWrite) {
		f := c.out[0]
		c.out[0] = outFrame{}
		c.out = c.out[1:]
		c.outBytes -= len(f.data)
		size += len(f.data)
		batch = append(batch, f)
		if f.close {
			break
		}
	}
	if len(c.out) == 0 {
		c.out = nil // let the backing array go once drained
	}
	return batch
}

// writeLoop encrypts queued frames and writes them, several frames per websocket message (the
// client's frame reader splits them again).
func (c *conn) writeLoop() {
	for {
		batch := c.takeOut()
		if len(batch) == 0 {
			select {
			case <-c.ctx.Done():
				return
			case <-c.outReady:
				continue
			}
		}
		var msg []byte
		closeAfter := false
		for _, f := range batch {
			msg = append(msg, encodeFrame(c.tr.seal(f.data))...)
			closeAfter = closeAfter || f.close
		}
		wctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
		err := c.ws.Write(wctx, websocket.MessageBinary, msg)
		cancel()
		if err != nil {
			c.close()
			return
		}
		if closeAfter {
			// Give the client a moment to read the final node before the socket goes.
			time.AfterFunc(500*time.Millisecond, c.close)
			return
		}
	}
}

// close ends the connection at once.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.cancel()
		_ = c.ws.CloseNow()
	})
}

func mustMarshal(node waBinary.Node) []byte {
	data, err := waBinary.Marshal(node)
	if err != nil {
		// Every node the sandbox builds is well-formed; a failure here is a programming error
		// that must not take the process down, so send an empty ib instead.
		data, _ = waBinary.Marshal(waBinary.Node{Tag: "ib"})
	}
	return data
}

// decodeNode turns a decrypted frame into a node, recovering from decoder panics.
func decodeNode(plain []byte) (node *waBinary.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			node, err = nil, fmt.Errorf("malformed node: %v", r)
		}
	}()
	unpacked, err := waBinary.Unpack(plain)
	if err != nil {
		return nil, err
	}
	return waBinary.Unmarshal(unpacked)
}

// serverJID is s.whatsapp.net, the "from" of everything the server itself says.
var serverJID = types.ServerJID
