package app

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
)

// Memory defaults of an instance process (docs/benchmarks.md, "Density"). An idle instance holds
// a few MiB of live heap; Go's defaults (GOGC=100, no limit) let the heap grow to twice that
// before collecting and keep freed pages for a while. Many instances run side by side on one
// node, so the instance collects earlier and gives memory back sooner; a busy instance pays a
// little more GC CPU.
const (
	// DefaultGCPercent is the instance's GOGC unless the GOGC environment variable is set.
	DefaultGCPercent = 50
	// DefaultMemoryLimit is the instance's soft memory limit (the Go runtime's, not a cap: the
	// heap may grow past it, the GC then works harder) unless GOMEMLIMIT is set.
	DefaultMemoryLimit = 32 << 20
)

// MemorySettings are the GC settings an instance applies at start.
type MemorySettings struct {
	// GCPercent is passed to debug.SetGCPercent; negative turns the GC off (as GOGC=off).
	GCPercent int
	// MemoryLimit is passed to debug.SetMemoryLimit in bytes; math.MaxInt64 means none.
	MemoryLimit int64
	// SetGC and SetLimit are false when the environment already chose (GOGC, GOMEMLIMIT): the
	// runtime has applied those itself and they win.
	SetGC, SetLimit bool
}

// MemorySettingsFromEnv returns the instance's GC settings: the defaults unless GOGC or
// GOMEMLIMIT are set, and MESSENGER_GOGC / MESSENGER_MEMORY_LIMIT (same syntax as the Go
// variables) in their place when given.
func MemorySettingsFromEnv(getenv func(string) string) (MemorySettings, error) {
	s := MemorySettings{GCPercent: DefaultGCPercent, MemoryLimit: DefaultMemoryLimit, SetGC: true, SetLimit: true}
	if getenv("GOGC") != "" {
		s.SetGC = false
	} else if v := getenv("MESSENGER_GOGC"); v != "" {
		p, err := parseGOGC(v)
		if err != nil {
			return s, fmt.Errorf("MESSENGER_GOGC: %w", err)
		}
		s.GCPercent = p
	}
	if getenv("GOMEMLIMIT") != "" {
		s.SetLimit = false
	} else if v := getenv("MESSENGER_MEMORY_LIMIT"); v != "" {
		l, err := parseMemoryLimit(v)
		if err != nil {
			return s, fmt.Errorf("MESSENGER_MEMORY_LIMIT: %w", err)
		}
		s.MemoryLimit = l
	}
	return s, nil
}

// Apply sets the runtime's GC percent and memory limit.
func (s MemorySettings) Apply() {
	if s.SetGC {
		debug.SetGCPercent(s.GCPercent)
	}
	if s.SetLimit {
		debug.SetMemoryLimit(s.MemoryLimit)
	}
}

// ApplyMemorySettings applies the settings of the process environment; the command calls it
// before building the server.
func ApplyMemorySettings() (MemorySettings, error) {
	s, err := MemorySettingsFromEnv(os.Getenv)
	if err != nil {
		return s, err
	}
	s.Apply()
	return s, nil
}

// parseGOGC parses a GOGC value: a percentage or "off".
func parseGOGC(v string) (int, error) {
	if strings.EqualFold(v, "off") {
		return -1, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 {
		return 0, fmt.Errorf("%q is not a percentage or off", v)
	}
	return p, nil
}

// parseMemoryLimit parses a GOMEMLIMIT value: bytes with an optional B, KiB, MiB, GiB or TiB
// suffix, or "off".
func parseMemoryLimit(v string) (int64, error) {
	if strings.EqualFold(v, "off") {
		return math.MaxInt64, nil
	}
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult, num := int64(1), v
	for _, u := range units {
		if n, ok := strings.CutSuffix(v, u.suffix); ok {
			mult, num = u.mult, n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size such as 32MiB, or off", v)
	}
	return n * mult, nil
}

// DefaultIdleTrim is how long after start, and then how often, an instance returns freed heap
// memory to the OS (MESSENGER_IDLE_TRIM; 0 turns it off).
const DefaultIdleTrim = 30 * time.Second

// idleTrimEvery is the interval of the trims after the first.
const idleTrimEvery = 5 * time.Minute

// IdleTrimFromEnv reads MESSENGER_IDLE_TRIM (a duration; 0 or off: none), default DefaultIdleTrim.
func IdleTrimFromEnv(getenv func(string) string) (time.Duration, error) {
	v := getenv("MESSENGER_IDLE_TRIM")
	switch {
	case v == "":
		return DefaultIdleTrim, nil
	case strings.EqualFold(v, "off"):
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("MESSENGER_IDLE_TRIM: %q is not a duration", v)
	}
	return d, nil
}

// idleTrim returns freed heap memory to the OS first after `after` (once the server has started
// and logged in) and then every idleTrimEvery, so that pages touched while starting (migrations,
// the login's prekey upload) or by a burst of traffic do not stay resident in an idle instance;
// the runtime's background scavenger returns them only slowly. Each trim is one full GC.
func idleTrim(after time.Duration, stop <-chan struct{}) {
	if after <= 0 {
		return
	}
	t := time.NewTimer(after)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			debug.FreeOSMemory()
			t.Reset(idleTrimEvery)
		}
	}
}

// loginTrimSettle is how long after the account became authenticated the instance returns freed
// memory to the OS: the login's prekey upload and the first history sync are over by then (in the
// fleet run the first timed trim, 30 s after start, came before most pairings, so the login's pages
// stayed until the next trim 5 minutes later).
const loginTrimSettle = 20 * time.Second

// loginTrim calls trim loginTrimSettle after each time the engine's status turned authenticated
// (a login, or a reconnect after being logged out), unless it went away again meanwhile; it
// returns when stop closes. Engines that do not announce changes (account.Notifier) get none.
func loginTrim(eng account.Engine, settle time.Duration, trim func(), stop <-chan struct{}) {
	n, ok := eng.(account.Notifier)
	if !ok || settle <= 0 {
		return
	}
	changes, unsubscribe := n.Subscribe()
	defer unsubscribe()
	authed := false
	var due <-chan time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	check := func() { // an account already authenticated when this starts counts as a login
		now := eng.Status().AccountStatus == account.StatusAuthenticated
		if now && !authed {
			timer = time.NewTimer(settle)
			due = timer.C
		} else if !now && timer != nil {
			timer.Stop()
			due = nil
		}
		authed = now
	}
	check()
	for {
		select {
		case <-stop:
			return
		case <-changes:
			check()
		case <-due:
			due = nil
			trim()
		}
	}
}

// SQLiteTuning are the SQLite pool and cache settings of the instance (MESSENGER_SQLITE_CACHE_KIB,
// MESSENGER_SQLITE_MAX_IDLE_CONNS, MESSENGER_SQLITE_CONN_MAX_IDLE_TIME); zero values keep the
// store's defaults (store.Options).
type SQLiteTuning struct {
	CacheKiB        int
	MaxIdleConns    int
	ConnMaxIdleTime time.Duration
}

// SQLiteTuningFromEnv reads the SQLite settings of the environment.
func SQLiteTuningFromEnv(getenv func(string) string) (SQLiteTuning, error) {
	var t SQLiteTuning
	var err error
	if v := getenv("MESSENGER_SQLITE_CACHE_KIB"); v != "" {
		if t.CacheKiB, err = strconv.Atoi(v); err != nil || t.CacheKiB <= 0 {
			return t, fmt.Errorf("MESSENGER_SQLITE_CACHE_KIB: %q is not a positive number", v)
		}
	}
	if v := getenv("MESSENGER_SQLITE_MAX_IDLE_CONNS"); v != "" {
		if t.MaxIdleConns, err = strconv.Atoi(v); err != nil || t.MaxIdleConns <= 0 {
			return t, fmt.Errorf("MESSENGER_SQLITE_MAX_IDLE_CONNS: %q is not a positive number", v)
		}
	}
	if v := getenv("MESSENGER_SQLITE_CONN_MAX_IDLE_TIME"); v != "" {
		if t.ConnMaxIdleTime, err = time.ParseDuration(v); err != nil || t.ConnMaxIdleTime <= 0 {
			return t, fmt.Errorf("MESSENGER_SQLITE_CONN_MAX_IDLE_TIME: %q is not a positive duration", v)
		}
	}
	return t, nil
}
