package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// anonClasses are the classes of anonymous memory the density run reports from /proc/PID/smaps.
var anonClasses = []string{"go arenas", "other anon", "stack+vdso"}

// anonBreakdown sums the Anonymous KiB of /proc/PID/smaps per class: "go arenas" are the Go
// heap's arena mappings (heap spans, goroutine stacks; the runtime reserves them at hint
// addresses below the kernel's mmap area, randomized since Go 1.26, so every anonymous mapping
// between 4 GiB and 0x7f0000000000 is taken for one); "other anon" is every other anonymous mapping — the Go
// runtime's off-heap metadata (span structures, GC work buffers, persistentalloc) and the pure-Go
// SQLite driver's C heap (modernc.org/libc allocates through its own mmap allocator); the
// process's [stack], [vvar] and [vdso] are counted apart. It also returns the number of other
// anonymous mappings with Anonymous > 0 (a hint of many small allocator chunks).
func anonBreakdown(pid int) (map[string]float64, int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	out := map[string]float64{}
	class, others := "", 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") { // a mapping's header: range perms offset dev inode [path]
			class = mappingClass(fields)
			continue
		}
		if fields[0] != "Anonymous:" || len(fields) < 2 || class == "" {
			continue
		}
		kib, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return nil, 0, err
		}
		out[class] += kib / 1024
		if class == "other anon" && kib > 0 {
			others++
		}
	}
	return out, others, sc.Err()
}

// mappingClass classifies a smaps mapping header; "" for file mappings (their Anonymous is the
// binary's written data/bss pages, counted with other anon).
func mappingClass(h []string) string {
	if len(h) >= 6 {
		switch h[5] {
		case "[stack]", "[vvar]", "[vdso]", "[vsyscall]":
			return "stack+vdso"
		case "[heap]":
			return "other anon"
		}
		return "other anon" // file-backed: copy-on-write data and bss of the binary
	}
	start, _, _ := strings.Cut(h[0], "-")
	addr, err := strconv.ParseUint(start, 16, 64)
	if err == nil && addr >= 1<<32 && addr < 0x7f0000000000 {
		return "go arenas"
	}
	return "other anon"
}
