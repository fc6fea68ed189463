package benchutil

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Child is this program re-executed with -serve: it announces itself with one line on stdout and
// runs until its stdin closes or it gets SIGTERM.
type Child struct {
	Cmd   *exec.Cmd
	stdin io.Closer
}

// StartChild re-executes this program with -serve and returns the child with its first line.
func StartChild(ctx context.Context) (*Child, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("finding own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, self, "-serve")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting sandbox child: %w", err)
	}
	c := &Child{Cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		c.Stop()
		return nil, "", fmt.Errorf("sandbox child did not announce itself (%q): %w", line, err)
	}
	return c, line, nil
}

// StopProcess ends cmd: closes stdin (when given), sends SIGTERM, and kills it after 10 s.
func StopProcess(cmd *exec.Cmd, stdin io.Closer) {
	if stdin != nil {
		_ = stdin.Close()
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Stop ends the child.
func (c *Child) Stop() { StopProcess(c.Cmd, c.stdin) }
