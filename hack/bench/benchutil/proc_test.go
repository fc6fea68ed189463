package benchutil

import (
	"os"
	"strings"
	"testing"
)

// The readers parse this process's own /proc files.
func TestProcReaders(t *testing.T) {
	rss, err := StatusKiB(os.Getpid(), "VmRSS")
	if err != nil || rss <= 0 {
		t.Fatalf("VmRSS = %d, %v", rss, err)
	}
	if _, err := StatusKiB(os.Getpid(), "NoSuchField"); err == nil {
		t.Error("a missing field read without error")
	}
	if mem, err := MemTotalKiB(); err != nil || mem < rss {
		t.Errorf("MemTotal = %d, %v", mem, err)
	}
	st, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != os.Getppid() || !strings.HasPrefix("benchutil.test", st.Comm) {
		t.Errorf("stat = %+v, want parent %d and the test binary's name", st, os.Getppid())
	}
	if len(strings.Fields(LoadAvg())) != 3 {
		t.Errorf("LoadAvg = %q", LoadAvg())
	}
}
