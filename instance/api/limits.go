package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/media"
)

// Defaults of the Options that bound what one request may cost.
const (
	// DefaultBodyReadTimeout is how long a request body of any size may take before the minimum
	// rate applies.
	DefaultBodyReadTimeout = 30 * time.Second
	// DefaultMinBodyRate is the slowest upload accepted past DefaultBodyReadTimeout, in bytes per
	// second: 16 KiB/s (a 64 MiB file may take 68 minutes).
	DefaultMinBodyRate = 16 << 10
	// DefaultMaxConcurrentFiles is how many sendFile requests may receive their file at once.
	DefaultMaxConcurrentFiles = 4
	// DefaultFileWait is how long a sendFile request waits for its turn before a 503.
	DefaultFileWait = 5 * time.Second
)

// bodyDeadline makes reading the request body keep a minimum pace: each read must be done by
// BodyReadTimeout after the request started plus the time the bytes read so far take at
// MinBodyRate. It moves the connection's read deadline (http.ResponseController), so a stalled or
// trickling client is cut off instead of holding a goroutine and its buffers forever.
//
// Once there is nothing (more) to read, the deadline is lifted: net/http then reads the
// connection in the background, and a deadline expiring there would cancel the request's context
// in the middle of a slow handler (a long sendFile download). A body the handler leaves unread
// keeps the deadline, which bounds net/http's drain after the handler. Servers without read
// deadlines (httptest.ResponseRecorder) are left as they are.
func (s *Server) bodyDeadline(c *gin.Context) {
	rc := http.NewResponseController(c.Writer)
	if c.Request.Body == nil || c.Request.Body == http.NoBody || c.Request.ContentLength == 0 {
		_ = rc.SetReadDeadline(time.Time{})
	} else {
		c.Request.Body = &paceReader{ReadCloser: c.Request.Body, rc: rc,
			start: time.Now(), grace: s.opts.BodyReadTimeout, rate: s.opts.MinBodyRate}
	}
	c.Next()
}

// paceReader is a request body that moves the read deadline ahead as bytes arrive.
type paceReader struct {
	io.ReadCloser
	rc          *http.ResponseController
	start       time.Time
	grace       time.Duration
	rate        int64
	n           int64
	unsupported bool
}

func (p *paceReader) Read(b []byte) (int, error) {
	if !p.unsupported {
		deadline := p.start.Add(p.grace + time.Duration(p.n)*time.Second/time.Duration(p.rate))
		if err := p.rc.SetReadDeadline(deadline); errors.Is(err, http.ErrNotSupported) {
			p.unsupported = true
		}
	}
	n, err := p.ReadCloser.Read(b)
	p.n += int64(n)
	if errors.Is(err, io.EOF) && !p.unsupported {
		_ = p.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// abortBodyError answers a failure to read the request body: 413 over the size limit, 408 when
// the client was too slow, else 400.
func abortBodyError(c *gin.Context, err error) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		abort(c, http.StatusRequestEntityTooLarge, "request body too large: the limit is %d bytes", tooLarge.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.Header("Connection", "close")
		abort(c, http.StatusRequestTimeout, "the request body arrived too slowly")
	default:
		abort(c, http.StatusBadRequest, "reading the request body: %v", err)
	}
}

// acquireFileIntake waits (up to FileWait, or until the client gives up) for one of the
// MaxConcurrentFiles slots of file intake, so that concurrent sendFile requests cannot hold more
// than that many files in flight. It answers 503 with Retry-After when no slot became free.
func (s *Server) acquireFileIntake(c *gin.Context) (release func(), ok bool) {
	release = func() { <-s.intake }
	select {
	case s.intake <- struct{}{}:
		return release, true
	default:
	}
	t := time.NewTimer(s.opts.FileWait)
	defer t.Stop()
	select {
	case s.intake <- struct{}{}:
		return release, true
	case <-t.C:
	case <-c.Request.Context().Done():
	}
	c.Header("Retry-After", strconv.Itoa(int(max(s.opts.FileWait, time.Second)/time.Second)))
	abort(c, http.StatusServiceUnavailable, "too many files are being received (at most %d at once): retry later",
		s.opts.MaxConcurrentFiles)
	return nil, false
}

// pendingFile is a received file in the media directory's intake, not yet committed.
type pendingFile struct {
	*media.File
	in *media.Intake
}
