package rig

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is one run of the binary; it is started again with the same arguments on restart.
type process struct {
	bin, log string
	args     []string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// start execs the binary, appending its stderr and stdout to the log file.
func (p *process) start() error {
	logFile, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	c := exec.Command(p.bin, p.args...)
	c.Stdout, c.Stderr = logFile, logFile
	if err := c.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting %s %v: %w", p.bin, p.args, err)
	}
	p.cmd, p.exited = c, make(chan struct{})
	go func(done chan struct{}) {
		_ = c.Wait()
		_ = logFile.Close()
		close(done)
	}(p.exited)
	return nil
}

// signal sends sig to the running process.
func (p *process) signal(sig syscall.Signal) error {
	if p.cmd == nil {
		return fmt.Errorf("%s is not running", p.log)
	}
	return p.cmd.Process.Signal(sig)
}

// kill ends the process with SIGKILL and waits for it.
func (p *process) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a stopped process dies at once either way
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// stop ends the process with SIGTERM, SIGKILL after 20 s.
func (p *process) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// pid is the running process's id (0 when not running).
func (p *process) pid() int {
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Tail returns the last n bytes of a log file, for error messages.
func Tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	raw, _ := io.ReadAll(f)
	return string(raw)
}
