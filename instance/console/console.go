// Package console is the instance's web console at /console: the live QR code, status and
// substatus, phone, queue with retry times, recent messages with media previews, webhook
// deliveries with their attempts, and the actions reboot, logout and clear queue. Pages are
// server-rendered (html/template) and work without JavaScript; a small script embedded with them
// follows the QR code and the status live. Every data read and action goes through the instance's
// own Chat API handler, in-process, so the console shows exactly what the API answers.
//
// Access needs the instance token, entered once in a login form; the browser then holds an
// HttpOnly, SameSite=Strict session cookie (Secure over TLS), never the token, and forms that
// change something carry a per-session CSRF token. An Authorization: Bearer header (what the
// gateway sends after its own check) is accepted as well. All links are relative, so the console
// works under any path prefix (the gateway's /<namespace>/<name>/).
package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
)

// Prefix is the path the console is served under.
const Prefix = "/console"

// Defaults of Options.
const (
	DefaultSessionTTL = 12 * time.Hour
	DefaultLongPoll   = 25 * time.Second
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/console.css assets/console.js
var assetFS embed.FS

// Options configure the console.
type Options struct {
	// API is the instance's Chat API handler; the console calls it in-process with Token.
	API http.Handler
	// Engine gives the account status; when it implements account.Notifier, /console/state
	// long-polls on its changes.
	Engine account.Engine
	// Token is the instance token: the login form compares with it, sessions are signed with it.
	Token string
	// SessionTTL is how long a login lasts (default DefaultSessionTTL).
	SessionTTL time.Duration
	// LongPoll bounds one /console/state?wait= request (default DefaultLongPoll).
	LongPoll time.Duration
	Logger   *slog.Logger
}

// Console serves the web console. It is an http.Handler for paths under Prefix.
type Console struct {
	opts    Options
	pages   *template.Template
	revoked revoked
	log     *slog.Logger
	now     func() time.Time
}

// New builds the console.
func New(opts Options) (*Console, error) {
	if opts.API == nil || opts.Engine == nil || opts.Token == "" {
		return nil, errors.New("console: API, engine and token are required")
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.LongPoll <= 0 {
		opts.LongPoll = DefaultLongPoll
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	pages, err := template.New("console").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &Console{opts: opts, pages: pages, log: opts.Logger, now: time.Now}, nil
}

// contentSecurity is every console answer's CSP: only the console's own files; no inline script
// or style, no frames, forms only to itself.
const contentSecurity = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

// ServeHTTP serves one console request (r.URL.Path starts with Prefix).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurity)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	rest := strings.TrimPrefix(r.URL.Path, Prefix)
	switch {
	case rest == "":
		// The page lives at /console/ so that relative links resolve below it (under a prefix too).
		h.Set("Location", "console/")
		w.WriteHeader(http.StatusSeeOther)
	case strings.HasPrefix(rest, "/static/"):
		c.static(w, r, strings.TrimPrefix(rest, "/static/"))
	case rest == "/login":
		c.login(w, r)
	default:
		s, ok := c.authenticate(r)
		if !ok {
			c.unauthenticated(w, r, rest)
			return
		}
		c.route(w, r, rest, s)
	}
}

// route serves the pages and endpoints that need a session.
func (c *Console) route(w http.ResponseWriter, r *http.Request, rest string, s *session) {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case rest == "/" && get:
		c.dashboard(w, r, s)
	case rest == "/state" && get:
		c.state(w, r)
	case rest == "/qr.png" && get:
		c.qrPNG(w, r)
	case strings.HasPrefix(rest, "/media/") && get:
		c.media(w, r, strings.TrimPrefix(rest, "/media/"))
	case rest == "/signout" && r.Method == http.MethodPost:
		c.signout(w, r, s)
	case strings.HasPrefix(rest, "/action/") && r.Method == http.MethodPost:
		c.action(w, r, s, strings.TrimPrefix(rest, "/action/"))
	default:
		c.page(w, http.StatusNotFound, "message", pageData{Title: "Not found", Message: "There is no such console page.", Back: back(rest)})
	}
}

// authenticate returns the request's session: a valid cookie (s not nil), or a Bearer token
// (s nil: no CSRF needed, a browser never adds that header on its own). ?token= is not read:
// the console keeps the token out of URLs.
func (c *Console) authenticate(r *http.Request) (*session, bool) {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return nil, c.tokenOK(strings.TrimSpace(h[7:]))
	}
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return nil, false
	}
	s, ok := parseSession(ck.Value, c.opts.Token, c.now())
	if !ok || c.revoked.has(s) {
		return nil, false
	}
	return &s, true
}

// tokenOK compares given with the token in constant time (hashed first: in the length too).
func (c *Console) tokenOK(given string) bool {
	a, b := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(c.opts.Token))
	return given != "" && subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// unauthenticated answers a request without a session: the login page for the page itself, 401
// for the rest.
func (c *Console) unauthenticated(w http.ResponseWriter, r *http.Request, rest string) {
	if rest == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		c.page(w, http.StatusOK, "login", pageData{Title: "Sign in"})
		return
	}
	if rest == "/state" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"not signed in to the console"}` + "\n"))
		return
	}
	c.page(w, http.StatusUnauthorized, "message", pageData{Title: "Not signed in",
		Message: "Sign in to the console first.", Back: back(rest)})
}

// login checks the token posted by the login form and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Location", "./")
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	if crossSite(r) {
		c.page(w, http.StatusForbidden, "message", pageData{Title: "Refused", Message: "Cross-site form posts are refused.", Back: "./"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if !c.tokenOK(r.PostFormValue("token")) {
		c.log.Warn("console sign-in refused: wrong token")
		c.page(w, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Error: "Wrong token."})
		return
	}
	value, err := newSession(c.opts.Token, c.now().Add(c.opts.SessionTTL))
	if err != nil {
		c.page(w, http.StatusInternalServerError, "message", pageData{Title: "Error", Message: "Could not start a session.", Back: "./"})
		return
	}
	http.SetCookie(w, sessionCookie(r, value, int(c.opts.SessionTTL.Seconds())))
	w.Header().Set("Location", "./")
	w.WriteHeader(http.StatusSeeOther)
}

// signout ends the session: the cookie is cleared and its id remembered as revoked.
func (c *Console) signout(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.formOK(w, r, s) {
		return
	}
	if s != nil {
		c.revoked.add(*s, c.now())
	}
	http.SetCookie(w, sessionCookie(r, "", -1))
	w.Header().Set("Location", "./")
	w.WriteHeader(http.StatusSeeOther)
}

// formOK checks a state-changing form post: same site, and the session's CSRF token (a Bearer
// request has no session and needs none). It answers 403 itself.
func (c *Console) formOK(w http.ResponseWriter, r *http.Request, s *session) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if crossSite(r) || (s != nil && !s.checkCSRF(c.opts.Token, r.PostFormValue("csrf"))) {
		c.page(w, http.StatusForbidden, "message", pageData{Title: "Refused",
			Message: "This form is stale or came from another site (CSRF check failed). Reload the console and try again.", Back: back(strings.TrimPrefix(r.URL.Path, Prefix))})
		return false
	}
	return true
}

// crossSite reports a request a browser says came from another site.
func crossSite(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Site") == "cross-site"
}

// back is the relative link from the page at rest back to the console's main page.
func back(rest string) string {
	depth := strings.Count(strings.TrimPrefix(rest, "/"), "/")
	if depth == 0 {
		return "./"
	}
	return strings.Repeat("../", depth)
}

// static serves the embedded CSS and script.
func (c *Console) static(w http.ResponseWriter, r *http.Request, name string) {
	types := map[string]string{"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
	ct, ok := types[name]
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	body, err := assetFS.ReadFile("assets/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(body)
}

// page renders one of the templates (login, dashboard, confirm, message).
func (c *Console) page(w http.ResponseWriter, code int, name string, d pageData) {
	if d.Back == "" {
		d.Back = "./"
	}
	var buf strings.Builder
	if err := c.pages.ExecuteTemplate(&buf, name, d); err != nil {
		c.log.Error("rendering console page", "page", name, "error", err)
		http.Error(w, "console page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(buf.String()))
}

// engineContext bounds what the console asks of the API for one page.
func engineContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 30*time.Second)
}
