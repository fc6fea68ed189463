package gateway

import (
	"net/http"
	"strings"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/console"
)

// Callers of the web console that hold no token or key: a browser signed in to the console (its
// session cookie, signed with the instance token) or one that is signing in.
const (
	consoleSessionCaller = "console-session"
	consoleSignInCaller  = "console-sign-in"
)

// consoleCaller authenticates a browser on the instance's web console (/console, package
// instance/console) that presents no token: a valid console session cookie is the token holder's
// (the instance still checks revocation and CSRF itself); without one only the sign-in page and
// the sign-in form pass, as the console's own login needs. nil means 401.
func (g *Gateway) consoleCaller(r *http.Request, instPath, token string) *caller {
	if instPath != "/console" && !strings.HasPrefix(instPath, "/console/") || strings.Contains(instPath, "..") {
		return nil
	}
	if ck, err := r.Cookie(console.CookieName); err == nil && console.VerifySession(ck.Value, token, time.Now()) {
		return &caller{name: consoleSessionCaller, scope: ScopeAdmin, limit: g.opts.KeyLimit}
	}
	signIn := (r.Method == http.MethodGet || r.Method == http.MethodHead) && (instPath == "/console" || instPath == "/console/") ||
		r.Method == http.MethodPost && instPath == "/console/login"
	if !signIn {
		return nil
	}
	return &caller{name: consoleSignInCaller, scope: ScopeRead, limit: g.opts.KeyLimit}
}

// fromConsole reports whether the caller came in through the console's own authentication:
// its requests reach the instance with their cookie and without the instance token, so the
// instance's console decides (sign-in, revoked sessions, CSRF) as it does when called directly.
func (c *caller) fromConsole() bool {
	return c.name == consoleSessionCaller || c.name == consoleSignInCaller
}
