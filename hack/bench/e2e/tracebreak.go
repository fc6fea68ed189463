package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// goTrack follows one goroutine through an execution trace.
type goTrack struct {
	since trace.Time
	cat   string
	match bool
	acc   map[string]time.Duration
}

// wallBreakdown reads an execution trace and sums, over the goroutines whose stacks ever contain
// fn, how long they spent in each state: running, waiting for a CPU, in a system call, or
// blocked, with the blocking reason classified from the goroutine's stack.
func wallBreakdown(file, fn string) (map[string]time.Duration, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := trace.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("reading trace %s: %w", file, err)
	}
	tracks := map[trace.GoID]*goTrack{}
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading trace %s: %w", file, err)
		}
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		g := tracks[st.Resource.Goroutine()]
		if g == nil {
			g = &goTrack{acc: map[string]time.Duration{}}
			tracks[st.Resource.Goroutine()] = g
		}
		if g.since != 0 {
			g.acc[g.cat] += ev.Time().Sub(g.since)
		}
		frames := stackFuncs(st.Stack)
		g.match = g.match || slices.ContainsFunc(frames, func(s string) bool { return strings.Contains(s, fn) })
		_, to := st.Goroutine()
		g.since, g.cat = ev.Time(), classify(to, frames)
	}
	sum := map[string]time.Duration{}
	n := 0
	for _, g := range tracks {
		if g.match {
			n++
			for k, v := range g.acc {
				sum[k] += v
			}
		}
	}
	if n != 1 {
		fmt.Printf("(%d goroutines ran %s)\n", n, fn)
	}
	return sum, nil
}

func stackFuncs(s trace.Stack) []string {
	var out []string
	for f := range s.Frames() {
		out = append(out, f.Func)
	}
	return out
}

// classify names what a goroutine entering state `to` with this stack (leaf first) is doing.
func classify(to trace.GoState, frames []string) string {
	has := func(sub string) bool {
		return slices.ContainsFunc(frames, func(s string) bool { return strings.Contains(s, sub) })
	}
	switch to {
	case trace.GoRunning:
		return "running (on a CPU)"
	case trace.GoRunnable:
		return "runnable, waiting for a CPU"
	case trace.GoSyscall:
		if has("fsync") {
			return "syscall: fsync"
		}
		return "syscall: other (" + firstOwn(frames) + ")"
	case trace.GoWaiting:
		own := firstOwn(frames)
		switch {
		case has("modernc.org/sqlite.busyHandler"):
			return "blocked: SQLite busy handler (database locked by another connection)"
		case slices.ContainsFunc(frames, func(s string) bool { return strings.HasSuffix(s, "instance/store.(*Store).write") }):
			return "blocked: waiting for the store's writer to commit (" + storeMethod(frames) + ")"
		case has("socket.(*NoiseSocket).SendFrame"):
			return "blocked: whatsmeow writing the frame to the websocket"
		case strings.HasSuffix(own, "whatsmeow.(*Client).SendMessage"):
			return "blocked: whatsmeow waiting for the server's ack"
		case strings.HasSuffix(own, "instance/store.(*Store).writer"):
			return "blocked: writer idle, waiting for requests"
		case strings.HasSuffix(own, "instance/engine.(*Engine).drainLoop"):
			return "blocked: drain idle, waiting for work"
		}
		return "blocked: other (" + own + ")"
	}
	return "other state (" + to.String() + ")"
}

// storeMethod is the exported store method on the stack (MarkSending, MarkSent, …).
func storeMethod(frames []string) string {
	for _, f := range frames {
		if _, m, ok := strings.Cut(f, "instance/store.(*Store)."); ok && m != "" && m[0] >= 'A' && m[0] <= 'Z' {
			return m
		}
	}
	return "?"
}

// firstOwn is the leaf-most frame outside the runtime and the standard library's plumbing.
func firstOwn(frames []string) string {
	for _, f := range frames {
		if !strings.HasPrefix(f, "runtime.") && !strings.HasPrefix(f, "internal/") && !strings.HasPrefix(f, "sync.") &&
			!strings.HasPrefix(f, "syscall.") && !strings.HasPrefix(f, "database/sql.") {
			return f
		}
	}
	if len(frames) > 0 {
		return frames[0]
	}
	return "no stack"
}

// printBreakdown prints a wall-time breakdown per message, largest first.
func printBreakdown(title string, sum map[string]time.Duration, messages int) {
	var total time.Duration
	keys := make([]string, 0, len(sum))
	for k, v := range sum {
		total += v
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return int(sum[b] - sum[a]) })
	fmt.Printf("%s: %v in all, %.0f µs per message\n", title, total.Round(time.Millisecond), perMsg(total, messages))
	for _, k := range keys {
		if sum[k] >= total/200 {
			fmt.Printf("  %7.0f µs/msg  %4.1f%%  %s\n", perMsg(sum[k], messages), 100*float64(sum[k])/float64(total), k)
		}
	}
}
