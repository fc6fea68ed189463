package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"sync"
	"time"
)

// CookieName is the console's session cookie. Its value is stateless: an expiry and a random
// session id, signed with HMAC-SHA256 keyed by the instance token. Anyone holding the token (the
// instance, a gateway in front of it) can check it; changing the token ends every session.
const CookieName = "mo_console"

// Domain separation of the HMACs keyed by the token.
const (
	sessionLabel = "messenger-operator console session v1\x00"
	csrfLabel    = "messenger-operator console csrf v1\x00"
)

const (
	expLen   = 8
	nonceLen = 16
	macLen   = sha256.Size
)

// session is a verified session cookie.
type session struct {
	nonce []byte
	exp   time.Time
}

// newSession makes the cookie value of a new session ending at exp.
func newSession(token string, exp time.Time) (string, error) {
	raw := make([]byte, expLen+nonceLen, expLen+nonceLen+macLen)
	binary.BigEndian.PutUint64(raw, uint64(exp.Unix()))
	if _, err := rand.Read(raw[expLen:]); err != nil {
		return "", err
	}
	raw = append(raw, sign(token, sessionLabel, raw)...)
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// VerifySession reports whether value is a session cookie signed with token that has not expired
// at now. It does not know about sessions signed out on an instance (those are remembered there).
func VerifySession(value, token string, now time.Time) bool {
	_, ok := parseSession(value, token, now)
	return ok
}

// parseSession checks a cookie value's signature and expiry.
func parseSession(value, token string, now time.Time) (session, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) != expLen+nonceLen+macLen {
		return session{}, false
	}
	body, mac := raw[:expLen+nonceLen], raw[expLen+nonceLen:]
	if !hmac.Equal(mac, sign(token, sessionLabel, body)) {
		return session{}, false
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(body)), 0)
	if !now.Before(exp) {
		return session{}, false
	}
	return session{nonce: body[expLen:], exp: exp}, true
}

// csrf is the session's CSRF token: forms that change something carry it.
func (s session) csrf(token string) string {
	return base64.RawURLEncoding.EncodeToString(sign(token, csrfLabel, s.nonce))
}

// checkCSRF compares a form's CSRF token with the session's in constant time.
func (s session) checkCSRF(token, given string) bool {
	want := s.csrf(token)
	return given != "" && hmac.Equal([]byte(given), []byte(want))
}

func sign(token, label string, msg []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(label))
	m.Write(msg)
	return m.Sum(nil)
}

// revoked remembers signed-out sessions until they would have expired anyway.
type revoked struct {
	mu  sync.Mutex
	ids map[string]time.Time
}

func (r *revoked) add(s session, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[string]time.Time{}
	}
	for id, exp := range r.ids {
		if !now.Before(exp) {
			delete(r.ids, id)
		}
	}
	r.ids[string(s.nonce)] = s.exp
}

func (r *revoked) has(s session) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[string(s.nonce)]
	return ok
}

// secureRequest reports whether the browser reached the console over TLS (directly or through a
// proxy saying so): the cookie is then Secure.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sessionCookie is the Set-Cookie of a session (value "" and maxAge < 0 clear it). No Path: the
// browser scopes it to the directory of /console/login, which behind the gateway is
// /<namespace>/<name>/console, one instance's console.
func sessionCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: CookieName, Value: value, MaxAge: maxAge, HttpOnly: true,
		Secure: secureRequest(r), SameSite: http.SameSiteStrictMode}
}
