package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
)

const fleetNS = "fleet"

// fleet applies n instances at once, measures each one's time from apply to `got qr code` in its
// status, then the resident memory of the instance processes, the control plane and the harness.
func (b *bench) fleet(ctx context.Context, n int) error {
	k := b.h.Client
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fleetNS}}); err != nil {
		return err
	}
	wc, err := client.NewWithWatch(b.h.Config, client.Options{Scheme: k.Scheme()})
	if err != nil {
		return err
	}
	w, err := wc.Watch(ctx, &v1alpha1.MessengerInstanceList{}, client.InNamespace(fleetNS))
	if err != nil {
		return err
	}
	defer w.Stop()
	var mu sync.Mutex
	got := map[string]time.Time{}
	allDone := make(chan struct{})
	go func() {
		for ev := range w.ResultChan() {
			mi, ok := ev.Object.(*v1alpha1.MessengerInstance)
			if !ok || ev.Type == watch.Deleted || mi.Status.AccountStatus != "got qr code" {
				continue
			}
			mu.Lock()
			if _, ok := got[mi.Name]; !ok {
				got[mi.Name] = time.Now()
				if len(got) == n {
					close(allDone)
				}
			}
			mu.Unlock()
		}
	}()
	applied := make([]time.Time, n)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: fleetNS, Name: fmt.Sprintf("mi-%03d", i)},
				Spec: v1alpha1.MessengerInstanceSpec{NetworkURL: b.h.Sandbox.URL()}}
			applied[i] = time.Now()
			if err := k.Create(ctx, mi); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	select {
	case <-allDone:
	case <-time.After(10 * time.Minute):
		return fmt.Errorf("only %d of %d instances showed a QR code within 10 minutes", len(got), n)
	}
	all := time.Since(start)
	var lat []time.Duration
	mu.Lock()
	for i := range n {
		lat = append(lat, got[fmt.Sprintf("mi-%03d", i)].Sub(applied[i]))
	}
	mu.Unlock()
	slices.Sort(lat)
	fmt.Printf("%d instances applied at once: apply → `got qr code` p50=%s p99=%s max=%s; all within %s\n",
		n, pct(lat, 50), pct(lat, 99), lat[len(lat)-1], all.Round(time.Millisecond))
	time.Sleep(10 * time.Second) // steady state
	var inst int64
	for i := range n {
		if p := b.h.Node.Pod(fleetNS, fmt.Sprintf("mi-%03d-0", i)); p != nil {
			inst += rss(p.Pid())
		}
	}
	cp := childrenRSS()
	self := rss(os.Getpid())
	fmt.Printf("memory with %d instances: instance processes %.0f MiB total (%.1f MiB each), kube-apiserver+etcd %.0f MiB, "+
		"harness process (operator, node, sandbox) %.0f MiB\n", n, mib(inst), mib(inst)/float64(n), mib(cp), mib(self))
	base, err := b.withoutAgent(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("baseline: one instance without the kube agent, showing a QR code: %.1f MiB\n", mib(base))
	return nil
}

// withoutAgent runs the instance binary outside the cluster (no --instance-name/--namespace, so no
// kube agent) against the sandbox until it shows a QR code, and returns its resident memory.
func (b *bench) withoutAgent(ctx context.Context) (int64, error) {
	port, dir := "18977", b.h.Dir()+"/baseline"
	cmd := exec.CommandContext(ctx, b.binary, "instance", "--listen", "127.0.0.1:"+port, "--data-dir", dir,
		"--token", "baseline", "--network-url", b.h.Sandbox.URL())
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	base := &bench{base: "http://127.0.0.1:" + port, token: "baseline"}
	if _, _, err := base.nextQR(""); err != nil {
		return 0, err
	}
	time.Sleep(10 * time.Second) // the same steady state as the fleet
	return rss(cmd.Process.Pid), nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// rss is the resident set size of a process in bytes (0 if unknown).
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	kib, err := benchutil.StatusKiB(pid, "VmRSS")
	if err != nil {
		return 0
	}
	return kib << 10
}

// childrenRSS sums the RSS of this process's children that are not instance processes: the
// envtest kube-apiserver and etcd.
func childrenRSS() int64 {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var total int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := benchutil.ReadStat(pid)
		if err != nil {
			continue
		}
		if st.PPID == self && (strings.Contains(st.Comm, "kube-apiserver") || st.Comm == "etcd") {
			total += rss(pid)
		}
	}
	return total
}
