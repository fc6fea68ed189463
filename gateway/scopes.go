package gateway

import (
	"net/http"
	"strings"
)

// Scope is what an API key may do. Each scope includes the ones below it: admin ⊇ send ⊇ read.
type Scope int

// Scopes, lowest first.
const (
	// ScopeNone is no scope (an unknown scope name).
	ScopeNone Scope = iota
	// ScopeRead reads the account: status, QR code, messages, dialogs, the queue.
	ScopeRead
	// ScopeSend sends and acts on chats (reads, typing), plus read.
	ScopeSend
	// ScopeAdmin changes the instance (webhook, settings, logout, reboot, queues), plus send.
	ScopeAdmin
)

// String is the scope's name as written in a key Secret's scopes.
func (s Scope) String() string {
	switch s {
	case ScopeRead:
		return "read"
	case ScopeSend:
		return "send"
	case ScopeAdmin:
		return "admin"
	}
	return "none"
}

// ParseScope reads one scope name (case-insensitive); unknown names are ScopeNone.
func ParseScope(name string) Scope {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "read":
		return ScopeRead
	case "send":
		return ScopeSend
	case "admin":
		return ScopeAdmin
	}
	return ScopeNone
}

// ParseScopes reads a comma-separated list and returns the highest scope it grants.
func ParseScopes(list string) Scope {
	best := ScopeNone
	for _, name := range strings.Split(list, ",") {
		best = max(best, ParseScope(name))
	}
	return best
}

// scopeTable maps "METHOD /path" (or "* /path" for every method) of the Chat API to the scope a
// call needs. A path not in the table needs admin, so an endpoint added to the instance later is
// closed to lesser keys until it is classified here.
var scopeTable = map[string]Scope{
	"GET /status":                    ScopeRead,
	"GET /qr_code":                   ScopeRead,
	"GET /me":                        ScopeRead,
	"GET /messages":                  ScopeRead,
	"GET /dialogs":                   ScopeRead,
	"GET /dialog":                    ScopeRead,
	"GET /contacts":                  ScopeRead,
	"* /checkPhone":                  ScopeRead,
	"GET /showMessagesQueue":         ScopeRead,
	"GET /instanceStatuses":          ScopeRead,
	"GET /webhookStatus":             ScopeRead,
	"GET /events":                    ScopeRead,
	"GET /openapi.json":              ScopeRead,
	"GET /gatewayStatus":             ScopeRead,
	"POST /sendMessage":              ScopeSend,
	"POST /message":                  ScopeSend,
	"POST /sendFile":                 ScopeSend,
	"POST /sendPTT":                  ScopeSend,
	"POST /sendLocation":             ScopeSend,
	"POST /sendVCard":                ScopeSend,
	"POST /sendContact":              ScopeSend,
	"POST /sendLink":                 ScopeSend,
	"POST /sendPoll":                 ScopeSend,
	"POST /sendReaction":             ScopeSend,
	"POST /forwardMessage":           ScopeSend,
	"POST /editMessage":              ScopeSend,
	"POST /deleteMessage":            ScopeSend,
	"POST /readChat":                 ScopeSend,
	"POST /typing":                   ScopeSend,
	"POST /group":                    ScopeSend,
	"* /webhook":                     ScopeAdmin,
	"* /settings":                    ScopeAdmin,
	"* /settings/ackNotificationsOn": ScopeAdmin,
	"* /logout":                      ScopeAdmin,
	"* /reboot":                      ScopeAdmin,
	"* /clearMessagesQueue":          ScopeAdmin,
	"POST /pairingCode":              ScopeAdmin,
	"POST /me":                       ScopeAdmin,
	"* /metrics":                     ScopeAdmin,
}

// mediaPrefix serves stored media files; reading them is reading messages.
const mediaPrefix = "/media/"

// RequiredScope returns the scope a call of method on path (the instance's own path, without any
// gateway or /instance<id> prefix) needs: the table's entry, else admin.
func RequiredScope(method, path string) Scope {
	if s, ok := scopeTable[method+" "+path]; ok {
		return s
	}
	if method == http.MethodHead {
		if s, ok := scopeTable["GET "+path]; ok {
			return s
		}
	}
	if s, ok := scopeTable["* "+path]; ok {
		return s
	}
	if (method == http.MethodGet || method == http.MethodHead) && strings.HasPrefix(path, mediaPrefix) && !strings.Contains(path, "..") {
		return ScopeRead
	}
	if s, ok := consoleScope(method, path); ok {
		return s
	}
	return ScopeAdmin
}

// consoleScope classifies the instance's web console (/console, package instance/console):
// viewing it (pages, live state, QR image, media previews) and signing in or out is read; its
// actions (reboot, logout, clear queue) are admin.
func consoleScope(method, path string) (Scope, bool) {
	if path != "/console" && !strings.HasPrefix(path, "/console/") || strings.Contains(path, "..") {
		return ScopeNone, false
	}
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		return ScopeRead, true
	case method == http.MethodPost && (path == "/console/login" || path == "/console/signout"):
		return ScopeRead, true
	}
	return ScopeAdmin, true
}
