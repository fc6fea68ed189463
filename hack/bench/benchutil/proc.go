package benchutil

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// StatusKiB reads a "kB" field (VmRSS, VmHWM, RssAnon, RssFile, …) of /proc/PID/status.
func StatusKiB(pid int, field string) (int64, error) {
	return fileKiB(fmt.Sprintf("/proc/%d/status", pid), field)
}

// MemTotalKiB is the machine's memory (MemTotal of /proc/meminfo).
func MemTotalKiB() (int64, error) { return fileKiB("/proc/meminfo", "MemTotal") }

// fileKiB reads a "Name: N kB" field of a /proc file.
func fileKiB(path, field string) (int64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s of %s: %w", field, path, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

// Stat is what the benchmarks read of /proc/PID/stat.
type Stat struct {
	// Comm is the command name.
	Comm string
	// PPID is the parent's process ID.
	PPID int
	// CPU is the user+system CPU time used so far.
	CPU time.Duration
}

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	s := string(raw)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 > len(s) {
		return Stat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[end+2:]) // fields from 3 (state) on
	if len(fields) < 13 {
		return Stat{}, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ppid, err1 := strconv.Atoi(fields[1])
	utime, err2 := strconv.ParseInt(fields[11], 10, 64)
	stime, err3 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Stat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	const ticks = 100 // USER_HZ on Linux
	return Stat{Comm: s[open+1 : end], PPID: ppid, CPU: time.Duration(utime+stime) * time.Second / ticks}, nil
}

// CPUTime is the user+system CPU time process pid has used so far.
func CPUTime(pid int) (time.Duration, error) {
	st, err := ReadStat(pid)
	return st.CPU, err
}

// LoadAvg is the first three fields of /proc/loadavg ("?" when unknown).
func LoadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// RollupKiB reads a field (Rss, Pss, Anonymous, …) of /proc/PID/smaps_rollup in KiB.
func RollupKiB(pid int, field string) (int64, error) {
	return fileKiB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), field)
}
