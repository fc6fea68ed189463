package app

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/account"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestMemorySettingsFromEnv(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want MemorySettings
	}{
		{"defaults", nil, MemorySettings{GCPercent: DefaultGCPercent, MemoryLimit: DefaultMemoryLimit, SetGC: true, SetLimit: true}},
		{"Go's variables win", map[string]string{"GOGC": "200", "GOMEMLIMIT": "1GiB", "MESSENGER_GOGC": "10"},
			MemorySettings{GCPercent: DefaultGCPercent, MemoryLimit: DefaultMemoryLimit}},
		{"MESSENGER_ twins", map[string]string{"MESSENGER_GOGC": "25", "MESSENGER_MEMORY_LIMIT": "64MiB"},
			MemorySettings{GCPercent: 25, MemoryLimit: 64 << 20, SetGC: true, SetLimit: true}},
		{"off", map[string]string{"MESSENGER_GOGC": "off", "MESSENGER_MEMORY_LIMIT": "off"},
			MemorySettings{GCPercent: -1, MemoryLimit: math.MaxInt64, SetGC: true, SetLimit: true}},
		{"plain bytes", map[string]string{"MESSENGER_MEMORY_LIMIT": "1048576"},
			MemorySettings{GCPercent: DefaultGCPercent, MemoryLimit: 1 << 20, SetGC: true, SetLimit: true}},
	}
	for _, c := range cases {
		got, err := MemorySettingsFromEnv(env(c.env))
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	for _, bad := range []map[string]string{{"MESSENGER_GOGC": "-5"}, {"MESSENGER_GOGC": "lots"},
		{"MESSENGER_MEMORY_LIMIT": "32MB"}, {"MESSENGER_MEMORY_LIMIT": "-1MiB"}, {"MESSENGER_MEMORY_LIMIT": "99999999999TiB"}} {
		if _, err := MemorySettingsFromEnv(env(bad)); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestIdleTrimFromEnv(t *testing.T) {
	for v, want := range map[string]time.Duration{"": DefaultIdleTrim, "off": 0, "0": 0, "2m": 2 * time.Minute} {
		got, err := IdleTrimFromEnv(env(map[string]string{"MESSENGER_IDLE_TRIM": v}))
		if err != nil || got != want {
			t.Errorf("%q: got %s, %v; want %s", v, got, err, want)
		}
	}
	if _, err := IdleTrimFromEnv(env(map[string]string{"MESSENGER_IDLE_TRIM": "soon"})); err == nil {
		t.Error("bad duration accepted")
	}
}

func TestSQLiteTuningFromEnv(t *testing.T) {
	got, err := SQLiteTuningFromEnv(env(map[string]string{"MESSENGER_SQLITE_CACHE_KIB": "256",
		"MESSENGER_SQLITE_MAX_IDLE_CONNS": "1", "MESSENGER_SQLITE_CONN_MAX_IDLE_TIME": "30s"}))
	if want := (SQLiteTuning{CacheKiB: 256, MaxIdleConns: 1, ConnMaxIdleTime: 30 * time.Second}); err != nil || got != want {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	if got, err := SQLiteTuningFromEnv(env(nil)); err != nil || got != (SQLiteTuning{}) {
		t.Errorf("empty environment: %+v, %v", got, err)
	}
	for _, bad := range []map[string]string{{"MESSENGER_SQLITE_CACHE_KIB": "0"}, {"MESSENGER_SQLITE_MAX_IDLE_CONNS": "x"},
		{"MESSENGER_SQLITE_CONN_MAX_IDLE_TIME": "-1s"}} {
		if _, err := SQLiteTuningFromEnv(env(bad)); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestIdleTrimStops(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { idleTrim(time.Hour, stop); close(done) }()
	close(stop)
	<-done
	idleTrim(0, nil) // off: returns at once
}

// notifyingEngine is an engine whose status the test sets; it announces each change.
type notifyingEngine struct {
	account.NoEngine
	mu      sync.Mutex
	status  string
	changes chan struct{}
}

func (e *notifyingEngine) Status() account.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return account.Status{AccountStatus: e.status}
}

func (e *notifyingEngine) Subscribe() (<-chan struct{}, func()) { return e.changes, func() {} }

func (e *notifyingEngine) set(status string) {
	e.mu.Lock()
	e.status = status
	e.mu.Unlock()
	e.changes <- struct{}{}
}

// A login is followed by one trim; a status that is authenticated again without a logout in
// between brings no second one, a new login after a logout does.
func TestLoginTrimFollowsEachLogin(t *testing.T) {
	eng := &notifyingEngine{status: account.StatusGotQRCode, changes: make(chan struct{})}
	trims := make(chan struct{}, 4)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		loginTrim(eng, time.Millisecond, func() { trims <- struct{}{} }, stop)
		close(done)
	}()
	eng.set(account.StatusAuthenticated)
	<-trims
	eng.set(account.StatusAuthenticated) // a change of substatus, still logged in
	eng.set(account.StatusGotQRCode)     // logged out
	eng.set(account.StatusAuthenticated) // a new login
	<-trims
	close(stop)
	<-done
	if n := len(trims); n != 0 {
		t.Errorf("%d trims more than the two logins", n)
	}
}

// A login that ends before it settled brings no trim.
func TestLoginTrimSkipsShortLogin(t *testing.T) {
	eng := &notifyingEngine{status: account.StatusLoading, changes: make(chan struct{})}
	trimmed := make(chan struct{}, 1)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		loginTrim(eng, time.Hour, func() { trimmed <- struct{}{} }, stop)
		close(done)
	}()
	eng.set(account.StatusAuthenticated)
	eng.set(account.StatusGotQRCode)
	close(stop)
	<-done
	if len(trimmed) != 0 {
		t.Error("trimmed although the login ended before it settled")
	}
	loginTrim(account.NoEngine{}, time.Millisecond, func() { t.Error("trim without a notifier") }, nil)
}
