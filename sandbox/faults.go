package sandbox

import (
	"errors"
	"fmt"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
)

// Fault kinds that can be injected into an account's companion devices.
const (
	FaultDisconnect = "disconnect" // the socket drops; the client reconnects by itself
	FaultReplaced   = "replaced"   // another connection took over (StreamReplaced)
	FaultLogout     = "logout"     // the phone unlinked the device (LoggedOut)
	FaultBan        = "ban"        // temporary ban (TemporaryBan), refused at login until it ends
	FaultOutdated   = "outdated"   // client too old (ClientOutdated), refused at login until it ends
	FaultStale      = "stale"      // the socket stays open, the server stops answering (fault_stale.go)
	// FaultUndecryptable spoils the next message delivered to the device; its retry receipt
	// brings the message back (fault_undecryptable.go).
	FaultUndecryptable = "undecryptable"
	FaultClear         = "clear" // lift ban, outdated, stale and undecryptable
)

// defaultFaultDuration is how long ban and outdated last when no duration is given.
const defaultFaultDuration = time.Hour

// Fault is a fault to inject: which account, which kind, optionally one device and a duration.
type Fault struct {
	Phone   string `json:"phone"`
	Kind    string `json:"kind"`
	Device  *int   `json:"device,omitempty"`
	Seconds int    `json:"seconds,omitempty"`
}

// ErrUnknownFault is returned for a fault kind the sandbox does not know.
var ErrUnknownFault = errors.New("kind must be one of disconnect, replaced, logout, ban, outdated, " +
	"stale (socket open, server silent until the client reconnects or clear), " +
	"undecryptable (the next message delivered cannot be decrypted; the retry receipt brings it back), clear")

// InjectFault applies a fault to the account's companion devices (all of them, or the one named)
// and returns the JIDs of the devices it reached.
func (s *Server) InjectFault(f Fault) ([]string, error) {
	switch f.Kind {
	case FaultDisconnect, FaultReplaced, FaultLogout, FaultBan, FaultOutdated, FaultStale, FaultUndecryptable, FaultClear:
	default:
		return nil, ErrUnknownFault
	}
	dur := defaultFaultDuration
	if f.Seconds > 0 {
		dur = time.Duration(f.Seconds) * time.Second
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.byPhone[f.Phone]
	if acct == nil {
		return nil, ErrPhoneUnknown
	}
	var targets []*device
	for _, id := range acct.sortedDevices() {
		if id != 0 && (f.Device == nil || int(id) == *f.Device) {
			targets = append(targets, acct.Devices[id])
		}
	}
	if f.Device != nil && len(targets) == 0 {
		return nil, fmt.Errorf("phone %s has no companion device %d", f.Phone, *f.Device)
	}
	affected := []string{}
	for _, d := range targets {
		if s.applyFault(d, f.Kind, dur) {
			affected = append(affected, d.pn().String())
		}
	}
	return affected, nil
}

// applyFault applies one fault to one device; it reports whether the device was affected.
// Call with s.mu held.
func (s *Server) applyFault(d *device, kind string, dur time.Duration) bool {
	now := time.Now()
	switch kind {
	case FaultDisconnect:
		if d.conn == nil {
			return false
		}
		d.conn.close()
	case FaultReplaced:
		if d.conn == nil {
			return false
		}
		d.conn.sendAndClose(streamConflict("replaced", ""))
	case FaultLogout:
		s.removeDevice(d, nil)
	case FaultBan:
		d.BannedUntil = now.Add(dur)
		if d.conn != nil {
			d.conn.sendAndClose(failureNode(402, waBinary.Attrs{"code": 101, "expire": int(dur.Seconds())}))
		}
	case FaultOutdated:
		d.OutdatedUntil = now.Add(dur)
		if d.conn != nil {
			d.conn.sendAndClose(failureNode(405, nil))
		}
	case FaultStale:
		return makeStale(d)
	case FaultUndecryptable:
		return spoilNextMessage(d)
	case FaultClear:
		d.BannedUntil, d.OutdatedUntil = time.Time{}, time.Time{}
		d.spoilNext = false
		clearStale(d)
	default:
		return false
	}
	s.dirty = true
	return true
}
