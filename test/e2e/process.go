package e2e

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// probeEvery is how often the node runs a readiness probe (faster than the template's period,
// so tests and `make dev` see readiness promptly).
const probeEvery = 500 * time.Millisecond

// launch is a container resolved into a local command.
type launch struct {
	path, container, image, dir, logPath, probePath string
	args, env                                       []string
	grace, probeEvery                               time.Duration
}

// Process is one pod's container running as a local process, restarted when it exits (restart
// policy Always) until Stop.
type Process struct {
	uid      types.UID
	labels   map[string]string
	port     int
	l        launch
	log      *slog.Logger
	onChange func(*Process)
	stopCh   chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	pid      int
	ready    bool
	starts   int
	started  time.Time
	lastExit string
}

// startProcess runs l for pod on port; onChange is called when readiness or the process changes.
func startProcess(l launch, pod *corev1.Pod, port int, log *slog.Logger, onChange func(*Process)) *Process {
	p := &Process{uid: pod.UID, labels: pod.Labels, port: port, l: l, log: log, onChange: onChange,
		stopCh: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	go p.probe()
	return p
}

// Address is the process's listen address, 127.0.0.1:port.
func (p *Process) Address() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// URL is the base URL of the process's HTTP server.
func (p *Process) URL() string { return "http://" + p.Address() }

// LogPath is the file that collects the process's output.
func (p *Process) LogPath() string { return p.l.logPath }

// Starts counts how many times the process was started (1 + restarts).
func (p *Process) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Pid is the current process id (0 when not running).
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// Ready reports the last readiness probe result.
func (p *Process) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

// Stop terminates the process (SIGTERM, then SIGKILL after the grace period) and waits.
func (p *Process) Stop() {
	p.stopOnce.Do(func() { close(p.stopCh) })
	<-p.done
}

// run starts the process and restarts it with backoff when it exits, until Stop.
func (p *Process) run() {
	defer close(p.done)
	for failures := 0; ; failures++ {
		if err := p.runOnce(); err != nil {
			p.log.Warn("container exited", "error", err)
		}
		select {
		case <-p.stopCh:
			return
		case <-time.After(min(time.Duration(1<<min(failures, 4))*time.Second, 10*time.Second)):
		}
	}
}

// runOnce runs the process until it exits or Stop.
func (p *Process) runOnce() error {
	select {
	case <-p.stopCh:
		return nil
	default:
	}
	out, err := os.OpenFile(p.l.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("container log: %w", err)
	}
	defer func() { _ = out.Close() }()
	cmd := exec.Command(p.l.path, p.l.args...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = p.l.env, p.l.dir, out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.l.path, err)
	}
	p.mu.Lock()
	p.pid, p.starts, p.started = cmd.Process.Pid, p.starts+1, time.Now()
	p.mu.Unlock()
	p.onChange(p)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-p.stopCh:
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-waited:
		case <-time.After(p.l.grace):
			_ = cmd.Process.Kill()
			err = <-waited
		}
	}
	p.mu.Lock()
	p.pid, p.ready = 0, false
	p.lastExit = fmt.Sprint(err)
	p.mu.Unlock()
	p.onChange(p)
	return err
}

// probe runs the readiness probe until the process is stopped.
func (p *Process) probe() {
	hc := &http.Client{Timeout: 2 * time.Second}
	every := p.l.probeEvery
	if every <= 0 {
		every = probeEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		ready := false
		if p.Pid() != 0 && p.l.probePath != "" {
			if resp, err := hc.Get(p.URL() + p.l.probePath); err == nil {
				ready = resp.StatusCode >= 200 && resp.StatusCode < 400
				_ = resp.Body.Close()
			}
		}
		p.mu.Lock()
		changed := p.ready != ready
		p.ready = ready
		p.mu.Unlock()
		if changed {
			p.onChange(p)
		}
	}
}

// podStatus is the Pod status the node reports for this process.
func (p *Process) podStatus(pod *corev1.Pod) corev1.PodStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		since := metav1.Now()
		for _, c := range pod.Status.Conditions {
			if c.Type == t && c.Status == s {
				since = c.LastTransitionTime
			}
		}
		return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: since}
	}
	start := metav1.NewTime(p.started)
	cs := corev1.ContainerStatus{Name: p.l.container, Image: p.l.image, ImageID: p.l.path, Ready: p.ready,
		RestartCount: int32(max(p.starts-1, 0)), Started: &[]bool{p.pid != 0}[0]}
	if p.pid != 0 {
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: start}
	} else {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: p.lastExit}
	}
	return corev1.PodStatus{
		Phase:  corev1.PodRunning,
		HostIP: "127.0.0.1", HostIPs: []corev1.HostIP{{IP: "127.0.0.1"}},
		PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}},
		StartTime: &start,
		Conditions: []corev1.PodCondition{cond(corev1.PodScheduled, true), cond(corev1.PodInitialized, true),
			cond(corev1.ContainersReady, p.ready), cond(corev1.PodReady, p.ready)},
		ContainerStatuses: []corev1.ContainerStatus{cs},
	}
}
