package app

import (
	"math"
	"testing"
	"time"
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
