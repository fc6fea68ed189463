// Package account defines the seam between the HTTP API and the WhatsApp connection: the Engine
// interface that the whatsmeow engine (package instance/engine) implements, the Chat API account
// statuses and the machine-readable substatuses.
package account

import (
	"context"
	"errors"
)

// Account statuses (accountStatus in GET /status), as in the Chat API.
const (
	StatusInit          = "init"
	StatusLoading       = "loading"
	StatusGotQRCode     = "got qr code"
	StatusAuthenticated = "authenticated"
)

// Substatuses (statusData.substatus in GET /status?full=true).
const (
	SubstatusConnecting = "connecting"
	SubstatusPairing    = "pairing"
	SubstatusConnected  = "connected"
	SubstatusConflict   = "conflict"
	SubstatusLoggedOut  = "logged_out"
	SubstatusBanned     = "banned"
	SubstatusOutdated   = "outdated"
	SubstatusOffline    = "offline"
	// SubstatusStale: the connection stopped answering (keepalives, send acks, any frame); the
	// engine dropped it and is reconnecting.
	SubstatusStale = "stale"
)

// Status is a snapshot of the account's state.
type Status struct {
	// AccountStatus is one of the Status constants.
	AccountStatus string
	// Substatus is one of the Substatus constants.
	Substatus string
	// QR is the raw text of the current QR code; set only with StatusGotQRCode.
	QR string
	// Message explains the state to a person (e.g. the ban expiry).
	Message string
	// Sandbox is true when connected to a sandbox network instead of WhatsApp.
	Sandbox bool
}

// Me describes the logged-in account.
type Me struct {
	// ID is the Chat API chat id of the account, <digits>@c.us.
	ID string `json:"id"`
	// Phone is the phone number, digits only.
	Phone string `json:"phone"`
	// LID is the account's privacy id, <digits>@lid, when known.
	LID string `json:"lid,omitempty"`
	// Name is the push name.
	Name string `json:"name,omitempty"`
	// Platform is the linked device platform reported at pairing.
	Platform string `json:"platform,omitempty"`
	// BusinessName is set for business accounts.
	BusinessName string `json:"businessName,omitempty"`
}

// Errors an Engine returns; the API maps them to status codes.
var (
	// ErrUnavailable: the engine cannot do it now (not started, disconnected) — 503.
	ErrUnavailable = errors.New("WhatsApp connection unavailable")
	// ErrNotAuthenticated: the account is not logged in — 503.
	ErrNotAuthenticated = errors.New("account not authenticated")
	// ErrAlreadyAuthenticated: pairing asked for while logged in — 422.
	ErrAlreadyAuthenticated = errors.New("account already authenticated")
)

// Engine is the WhatsApp connection of one account. Methods must be safe for concurrent use and
// must not block on the network longer than their context allows.
type Engine interface {
	// Status returns the current state without blocking.
	Status() Status
	// Logout logs the device out of WhatsApp and starts a new pairing (a fresh QR follows).
	Logout(ctx context.Context) error
	// Reboot drops the connection and connects again.
	Reboot(ctx context.Context) error
	// PairingCode starts pairing by phone number and returns the 8-character code to type on the
	// phone.
	PairingCode(ctx context.Context, phone string) (string, error)
	// Me returns the logged-in account.
	Me(ctx context.Context) (Me, error)
	// WakeQueue tells the queue drainer that new items were enqueued. It must not block.
	WakeQueue()
}

// NoEngine is the Engine of a server built without a WhatsApp connection: it reports status init
// with substatus offline and refuses every action with ErrUnavailable. Queued sends stay queued.
type NoEngine struct{}

// Status reports init/offline.
func (NoEngine) Status() Status {
	return Status{AccountStatus: StatusInit, Substatus: SubstatusOffline,
		Message: "no WhatsApp engine is built into this server"}
}

// Logout refuses.
func (NoEngine) Logout(context.Context) error { return ErrUnavailable }

// Reboot refuses.
func (NoEngine) Reboot(context.Context) error { return ErrUnavailable }

// PairingCode refuses.
func (NoEngine) PairingCode(context.Context, string) (string, error) { return "", ErrUnavailable }

// Me refuses.
func (NoEngine) Me(context.Context) (Me, error) { return Me{}, ErrUnavailable }

// WakeQueue does nothing: there is no drainer.
func (NoEngine) WakeQueue() {}

// Notifier is implemented by engines that announce status changes, so that watchers (the kube
// agent) need not poll Status.
type Notifier interface {
	// Subscribe returns a channel that receives a value after the status changed (changes that
	// happen while a value is pending are merged into it) and a function that ends the
	// subscription.
	Subscribe() (<-chan struct{}, func())
}

// Runner is implemented by engines with background work (the connection, the queue drainer): the
// server calls Run once after start and cancels ctx at shutdown; Run returns when its work stopped.
type Runner interface {
	Run(ctx context.Context) error
}

// SendStats is implemented by engines that count the outcome of the sends they drain.
type SendStats interface {
	// SendStats returns how many queued sends reached WhatsApp and how many failed for good.
	SendStats() (sent, failed uint64)
}
