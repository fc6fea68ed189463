package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/util/keys"

	"github.com/messenger-operator/messenger-operator/sandbox/sandboxclient"
)

// Version is reported at /sandbox/info.
const Version = "messenger-operator-sandbox/1"

// Options configure a sandbox.
type Options struct {
	// Listen is the TCP address to listen on; "127.0.0.1:0" picks a free port.
	Listen string
	// DataDir persists the network when set; empty keeps everything in memory.
	DataDir string
	// QRCodes is how many QR references an unpaired client gets (1 to 6, default 6). whatsmeow shows
	// the first for 60 s when there are 6 and each other for 20 s, then gives up: fewer codes make
	// QR expiry quick to test.
	QRCodes int
	// PhoneMessages is how many messages each simulated phone remembers, the oldest forgotten
	// first (default 10,000). Long fault runs that count every message raise it.
	PhoneMessages int
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// Server is a running sandbox network.
type Server struct {
	opts  Options
	log   *slog.Logger
	ln    net.Listener
	http  *http.Server
	ctx   context.Context
	stop  context.CancelFunc
	trust *trustChain

	// phoneStore holds the whatsmeow stores of the simulated phones.
	phoneStore *sqlstore.Container

	mu       sync.Mutex
	byPhone  map[string]*account
	byLID    map[string]*account
	groups   map[string]*group
	pairings map[string]*conn // QR ref → the unpaired connection showing it
	// codePairings: phone number → the unpaired connection asking to link to it by code
	codePairings map[string]*conn
	conns        map[*conn]bool
	phones       map[string]*Phone
	presence     map[*account]*presenceState // in memory only, see presence.go
	media        *mediaStore
	mediaAuth    string
	dirty        bool
	saveDone     chan struct{}
	rootPriv     []byte // persisted trust root (persistent sandboxes only)
	// serving counts the client connections being served; Close waits for them before the
	// last save, so nothing a client was told is stored is missing from it.
	serving sync.WaitGroup
	// restored holds, by phone number, the message lists the phones showed when a persistent
	// sandbox last stopped (persist_phones.go); runPhone hands them over.
	restored map[string][]*PhoneMessage
}

// processRoot is the trust root of in-memory sandboxes. whatsmeow's trust root is a process-wide
// variable, so every in-memory sandbox of one process shares it; persisted sandboxes keep their own.
var processRoot = sync.OnceValue(keys.NewKeyPair)

// Start listens on opts.Listen and serves the sandbox until Close.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:8900"
	}
	if opts.PhoneMessages <= 0 {
		opts.PhoneMessages = defaultPhoneMessages
	}
	if opts.QRCodes < 1 || opts.QRCodes > qrRefs {
		opts.QRCodes = qrRefs
	}
	s := &Server{
		opts: opts, log: opts.Logger,
		byPhone: map[string]*account{}, byLID: map[string]*account{}, groups: map[string]*group{},
		pairings: map[string]*conn{}, codePairings: map[string]*conn{}, conns: map[*conn]bool{}, phones: map[string]*Phone{},
		mediaAuth: randomID(16), saveDone: make(chan struct{}),
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	root, err := s.loadState()
	if err != nil {
		return nil, err
	}
	if s.restored, err = loadPhoneMessages(opts.DataDir); err != nil {
		return nil, err
	}
	if root == nil {
		root = processRoot()
	}
	if s.trust, err = newTrustChain(root); err != nil {
		return nil, err
	}
	if s.media, err = newMediaStore(opts.DataDir); err != nil {
		return nil, err
	}
	sandboxclient.Trust(*root.Pub)
	if s.phoneStore, err = openPhoneStore(ctx, opts.DataDir); err != nil {
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", opts.Listen); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Listen, err)
	}
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox http server stopped", "err", err)
		}
	}()
	go s.saveLoop()
	if err := s.startPhones(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.log.Info("sandbox started", "url", s.URL(), "persistent", opts.DataDir != "")
	return s, nil
}

// URL is the base URL of the sandbox, e.g. http://127.0.0.1:8900.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// RootPublicKey is the key that signs the sandbox's Noise certificates.
func (s *Server) RootPublicKey() [32]byte { return *s.trust.root.Pub }

// Close stops the phones and the server, and saves the network when persistent: the phones
// first (so they acknowledge nothing more; each waits until the message it was handling is on
// its list, see phone_inflight.go), then every client connection (waiting for the nodes
// being handled), then the last save of the network and of the phones' message lists.
func (s *Server) Close() error {
	s.mu.Lock()
	phones := make([]*Phone, 0, len(s.phones))
	for _, p := range s.phones {
		phones = append(phones, p)
	}
	s.mu.Unlock()
	for _, p := range phones {
		p.stop()
	}
	err := s.http.Close()
	s.mu.Lock()
	s.stop() // under s.mu: serveWS adds to s.serving only while s.ctx is live
	s.mu.Unlock()
	<-s.saveDone // saveLoop's last save waits for the connections (waitServing)
	if s.opts.DataDir != "" {
		err = errors.Join(err, s.savePhoneMessages())
	}
	return errors.Join(err, s.phoneStore.Close())
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws/chat", s.serveWS)
	mux.HandleFunc("POST /mms/{type}/{token}", s.handleUpload)
	mux.HandleFunc("GET /media/{id}", s.handleDownload)
	s.adminRoutes(mux)
	return mux
}
