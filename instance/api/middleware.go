package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/messenger-operator/messenger-operator/instance/redact"
)

// errorBody is every error answer: {"error":"…"}.
type errorBody struct {
	Error string `json:"error"`
}

// abort answers with a JSON error and stops the chain.
func abort(c *gin.Context, code int, format string, args ...any) {
	c.AbortWithStatusJSON(code, errorBody{Error: fmt.Sprintf(format, args...)})
}

// recoverJSON turns a panic into a JSON 500 (and a log line) instead of a dropped connection.
func (s *Server) recoverJSON(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.log.Error("panic in handler", "path", c.Request.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			abort(c, http.StatusInternalServerError, "internal error")
		}
	}()
	c.Next()
}

// logRequests logs each request without secrets (the query string is redacted) and records metrics.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	elapsed := time.Since(start)
	s.metrics.ObserveRequest(route, c.Request.Method, c.Writer.Status(), elapsed)
	s.log.Info("request", "method", c.Request.Method, "path", c.Request.URL.Path,
		"query", RedactQuery(c.Request.URL.RawQuery), "status", c.Writer.Status(),
		"duration", elapsed.String(), "client", c.ClientIP())
}

// RedactQuery returns a raw query string with secret values replaced by REDACTED (redact.Query).
func RedactQuery(raw string) string { return redact.Query(raw) }

// requireToken accepts ?token= or Authorization: Bearer, compared in constant time.
func (s *Server) requireToken(c *gin.Context) {
	if !s.tokenOK(c) {
		c.Header("Connection", "close") // answer now: net/http would first drain an unread body
		abort(c, http.StatusUnauthorized, "missing or wrong token: pass ?token= or Authorization: Bearer")
		return
	}
	c.Next()
}

func (s *Server) tokenOK(c *gin.Context) bool {
	given := c.Query("token")
	if h := c.GetHeader("Authorization"); given == "" && len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		given = strings.TrimSpace(h[7:])
	}
	if given == "" {
		return false
	}
	// Hashing first makes the comparison constant-time in the length too.
	a, b := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(s.opts.Token))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// limitBody caps the request body; reading past the cap fails with http.MaxBytesError (413).
func (s *Server) limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > n {
			abort(c, http.StatusRequestEntityTooLarge, "request body too large: the limit is %d bytes", n)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}
