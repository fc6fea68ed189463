package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/queue"
)

// TestCrashChild is the child process of TestEnqueueSurvivesKill: it enqueues from 32 goroutines and
// prints each acknowledged item, until it is killed.
func TestCrashChild(t *testing.T) {
	database, dir := os.Getenv("STORE_CRASH_DATABASE"), os.Getenv("STORE_CRASH_DIR")
	if database == "" && dir == "" {
		t.Skip("only runs as the child of TestEnqueueSurvivesKill")
	}
	s, err := Open(context.Background(), Options{Database: database, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	to, _ := chat.ParsePhone("17472822486")
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				it, err := s.Enqueue(context.Background(), NewItem{Payload: queue.Text{}, Chat: to, Body: fmt.Sprint(w, "-", i)})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				mu.Lock()
				fmt.Fprintf(out, "ok %d %s\n", it.QueueNumber, it.MessageID)
				_ = out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func TestEnqueueSurvivesKill(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			opts := b.opts(t)
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "STORE_CRASH_DATABASE="+opts.Database, "STORE_CRASH_DIR="+opts.DataDir)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := map[int64]string{}
			sc := bufio.NewScanner(stdout)
			for sc.Scan() && len(acked) < 2000 {
				var qn int64
				var id string
				if _, err := fmt.Sscanf(sc.Text(), "ok %d %s", &qn, &id); err == nil {
					acked[qn] = id
				}
			}
			_ = cmd.Process.Kill() // SIGKILL: no chance to flush or close anything
			_ = cmd.Wait()
			if len(acked) < 2000 {
				t.Fatalf("child acknowledged only %d items", len(acked))
			}
			s := open(t, opts)
			total, _, err := s.ListQueue(context.Background(), 0)
			if err != nil {
				t.Fatal(err)
			}
			for qn, id := range acked {
				it, err := s.QueueItem(context.Background(), qn)
				if err != nil || it.MessageID != id {
					t.Fatalf("acknowledged item %d lost or changed: %+v %v", qn, it, err)
				}
			}
			t.Logf("%d acknowledged before kill -9, %d in the queue after restart", len(acked), total)
			// Numbering continues after the crash without reuse.
			it, err := s.Enqueue(context.Background(), NewItem{Payload: queue.Text{}, Chat: person(t, "17472822486"), Body: "after"})
			if err != nil || int(it.QueueNumber) != total+1 {
				t.Fatalf("after restart: queue number %d, want %d (%v)", it.QueueNumber, total+1, err)
			}
		})
	}
}
