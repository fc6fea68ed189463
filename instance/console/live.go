package console

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"net/http"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/qr"
)

// liveState is what /console/state answers and what the script follows.
type liveState struct {
	// Key changes whenever anything else here changes (?wait= takes it).
	Key           string `json:"key"`
	AccountStatus string `json:"accountStatus"`
	Substatus     string `json:"substatus"`
	Message       string `json:"message"`
	Network       string `json:"network"`
	// QR is the relative link of the current QR image ("" when there is none); it changes with
	// the code.
	QR string `json:"qr"`
}

// current reads the engine's status.
func (c *Console) current() liveState {
	st := c.opts.Engine.Status()
	s := liveState{AccountStatus: st.AccountStatus, Substatus: st.Substatus, Message: st.Message, Network: "whatsapp"}
	if st.Sandbox {
		s.Network = "sandbox"
	}
	h := sha256.New()
	for _, part := range []string{st.AccountStatus, st.Substatus, st.Message, st.QR, s.Network} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	s.Key = hex.EncodeToString(h.Sum(nil)[:8])
	if st.AccountStatus == account.StatusGotQRCode && st.QR != "" {
		s.QR = "qr.png?v=" + s.Key
	}
	return s
}

// state answers the live state as JSON; with ?wait=<key> it waits (up to LongPoll) until the state
// differs from key.
func (c *Console) state(w http.ResponseWriter, r *http.Request) {
	s := c.current()
	if wait := r.URL.Query().Get("wait"); wait != "" && wait == s.Key {
		s = c.waitChange(r, wait)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(s)
}

// waitChange blocks until the state's key is not key, the request ends, or LongPoll passed.
func (c *Console) waitChange(r *http.Request, key string) liveState {
	var changed <-chan struct{}
	if n, ok := c.opts.Engine.(account.Notifier); ok {
		ch, stop := n.Subscribe()
		defer stop()
		changed = ch
	} else {
		t := time.NewTicker(time.Second) // no notifications: look again every second
		defer t.Stop()
		tick := make(chan struct{})
		go func() {
			for {
				select {
				case <-r.Context().Done():
					return
				case <-t.C:
					select {
					case tick <- struct{}{}:
					case <-r.Context().Done():
						return
					}
				}
			}
		}()
		changed = tick
	}
	deadline := time.NewTimer(c.opts.LongPoll)
	defer deadline.Stop()
	for {
		s := c.current() // after subscribing: a change in between is not missed
		if s.Key != key {
			return s
		}
		select {
		case <-changed:
		case <-deadline.C:
			return s
		case <-r.Context().Done():
			return s
		}
	}
}

// qrPNG serves the current QR code as a PNG (404 when there is none).
func (c *Console) qrPNG(w http.ResponseWriter, r *http.Request) {
	st := c.opts.Engine.Status()
	if st.AccountStatus != account.StatusGotQRCode || st.QR == "" {
		http.Error(w, "no QR code now", http.StatusNotFound)
		return
	}
	png, err := qr.PNG(st.QR)
	if err != nil {
		c.log.Error("rendering QR code", "error", err)
		http.Error(w, "could not render the QR code", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(png)
}

// pageData is what the templates see.
type pageData struct {
	Title, Message, Error, Back string
	// CSRF is the session's CSRF token ("" for Bearer requests, which need none).
	CSRF string
	Live liveState
	// Authenticated selects the account view; Refresh turns on the no-script reload.
	Authenticated bool
	Refresh       int
	Me            *apiMe
	Queue         *apiQueue
	WebhookURL    string
	Messages      []apiMessage
	Notes         []string
	// Action and ActionLabel are the confirm page's action.
	Action, ActionLabel, Question string
}

// dashboard renders the main page: status and QR while pairing, the account once authenticated.
func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, s *session) {
	d := pageData{Title: "Console", Live: c.current(), CSRF: c.csrfOf(s)}
	d.Authenticated = d.Live.AccountStatus == account.StatusAuthenticated
	if d.Authenticated {
		ctx, cancel := engineContext(r)
		defer cancel()
		c.account(ctx, &d)
	} else {
		d.Refresh = 5
	}
	c.page(w, http.StatusOK, "dashboard", d)
}

func (c *Console) csrfOf(s *session) string {
	if s == nil {
		return ""
	}
	return s.csrf(c.opts.Token)
}

// actions are the console's buttons: the API call each makes and how the confirm page asks.
var actions = map[string]struct{ path, label, question string }{
	"reboot": {"/reboot", "Reboot", "Reboot the WhatsApp connection? It drops and reconnects; queued sends wait."},
	"logout": {"/logout", "Log out", "Log this account out of WhatsApp? The device is unlinked; a new QR code must be scanned to use it again."},
	"clear":  {"/clearMessagesQueue", "Clear queue", "Clear the message queue? Every queued send not yet sent is deleted and will never be sent."},
}

// action asks for confirmation (a form with confirm=yes), then calls the API.
func (c *Console) action(w http.ResponseWriter, r *http.Request, s *session, name string) {
	a, ok := actions[name]
	if !ok {
		c.page(w, http.StatusNotFound, "message", pageData{Title: "Not found", Message: "No such action.", Back: "../"})
		return
	}
	if !c.formOK(w, r, s) {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		c.page(w, http.StatusOK, "confirm", pageData{Title: a.label, Question: a.question, Action: name,
			ActionLabel: a.label, CSRF: c.csrfOf(s), Back: "../"})
		return
	}
	ctx, cancel := engineContext(r)
	defer cancel()
	var out map[string]any
	code, err := c.call(ctx, http.MethodPost, a.path, &out)
	if err != nil {
		c.page(w, code, "message", pageData{Title: a.label + " failed", Error: err.Error(), Back: "../"})
		return
	}
	c.log.Info("console action", "action", name)
	msg := a.label + " done."
	if m, ok := out["message"].(string); ok {
		msg = m + "."
	} else if m, ok := out["result"].(string); ok {
		msg = m + "."
	}
	c.page(w, http.StatusOK, "message", pageData{Title: a.label, Message: msg, Back: "../"})
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"millis": func(ms int64) string {
		if ms <= 0 {
			return "—"
		}
		return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05Z")
	},
	"unix": func(s int64) string {
		if s <= 0 {
			return "—"
		}
		return time.Unix(s, 0).UTC().Format("2006-01-02 15:04:05Z")
	},
	"short": func(n int, s string) string {
		r := []rune(s)
		if len(r) <= n {
			return s
		}
		return string(r[:n]) + "…"
	},
}
