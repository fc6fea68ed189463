package sandbox

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
)

// Options configure a sandbox.
type Options struct {
	// Listen is the TCP address to listen on; "127.0.0.1:0" picks a free port.
	Listen string
	// DataDir persists the network when set; empty keeps everything in memory.
	DataDir string
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
}

// Server is a running sandbox network.
type Server struct {
	opts Options
	ln   net.Listener
	http *http.Server
	log  *slog.Logger
}

// Start listens on opts.Listen and serves the sandbox until Close.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, ln: ln, log: opts.Logger}
	s.http = &http.Server{Handler: http.NotFoundHandler()}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox http server stopped", "err", err)
		}
	}()
	return s, nil
}

// URL is the base URL of the sandbox, e.g. http://127.0.0.1:8900.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the sandbox.
func (s *Server) Close() error { return s.http.Close() }
