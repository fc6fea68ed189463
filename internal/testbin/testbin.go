// Package testbin gives tests the messenger-operator binary: the one `make test` built
// (MESSENGER_BINARY), or a fresh static build made once per test process.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once  sync.Once
	built string
	err   error
	out   []byte
)

// Path returns the path of the messenger-operator binary, building it if needed.
func Path(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("MESSENGER_BINARY"); p != "" {
		return p
	}
	once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, derr := os.MkdirTemp("", "messenger-operator-bin-")
		if derr != nil {
			err = derr
			return
		}
		built = filepath.Join(dir, "messenger-operator")
		cmd := exec.Command("go", "build", "-o", built, ".")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err = cmd.CombinedOutput()
	})
	if err != nil {
		t.Fatalf("building messenger-operator: %v\n%s", err, out)
	}
	return built
}
