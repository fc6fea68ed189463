// Command fleet measures a fleet of paired, idle instances under the e2e harness (real
// kube-apiserver and etcd, the operator, node and sandbox in this process, each instance pod a
// real `messenger-operator instance` process): N MessengerInstances applied at once, the time
// from apply to `got qr code` in each status, then every instance paired with a sandbox phone,
// and once all are authenticated and settled, the fleet's idle CPU over a window (utime+stime of
// /proc/PID/stat) and the memory of the instances (smaps_rollup), the API server, etcd and this
// process (docs/benchmarks.md, "Density").
//
// Run from the repository root after `make build`:
//
//	KUBEBUILDER_ASSETS=$(hack/envtest-bins.sh) go run ./hack/bench/fleet -binary bin/messenger-operator -n 300
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/test/e2e"
)

const ns = "fleet"

type options struct {
	binary               string
	n, parallel          int
	settle, window, wait time.Duration
	probeEvery           time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "bin/messenger-operator", "messenger-operator binary the pods run")
	flag.IntVar(&o.n, "n", 300, "instances")
	flag.IntVar(&o.parallel, "parallel", 4, "pairings at a time")
	flag.DurationVar(&o.settle, "settle", 60*time.Second, "idle time after the last pairing before the CPU window")
	flag.DurationVar(&o.window, "window", 60*time.Second, "CPU measurement window")
	flag.DurationVar(&o.wait, "wait", 20*time.Minute, "longest wait for all QR codes and for all pairings")
	flag.DurationVar(&o.probeEvery, "probe-every", controllers.ReadinessPeriodSeconds*time.Second,
		"readiness probe period of the node (default: the template's periodSeconds)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench fleet:", err)
		os.Exit(1)
	}
}

type fleet struct {
	o   options
	h   *e2e.Harness
	ids []int // the instances that showed a QR code: paired and measured
}

func run(o options) error {
	bin, err := filepath.Abs(o.binary)
	if err != nil {
		return err
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-fleet-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	h, err := e2e.Start(ctx, e2e.Options{Binary: bin, Dir: dir, Logger: slog.New(slog.DiscardHandler), ProbeEvery: o.probeEvery})
	if err != nil {
		return err
	}
	defer func() { _ = h.Stop() }()
	fmt.Printf("machine: %d CPUs (%s/%s); %s UTC; load %s; N=%d\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		time.Now().UTC().Format("2006-01-02 15:04"), benchutil.LoadAvg(), o.n)
	f := &fleet{o: o, h: h}
	if err := f.applyAll(ctx); err != nil {
		return err
	}
	if err := f.pairAll(ctx); err != nil {
		return err
	}
	fmt.Printf("settling %s (load %s)\n", o.settle, benchutil.LoadAvg())
	time.Sleep(o.settle)
	return f.measure()
}

func name(i int) string { return fmt.Sprintf("mi-%03d", i) }

// applyAll creates the N instances at once and reports apply → `got qr code` in status.
func (f *fleet) applyAll(ctx context.Context) error {
	k := f.h.Client
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	got, stop, err := f.watchStatus(ctx, "got qr code")
	if err != nil {
		return err
	}
	defer stop()
	applied := make([]time.Time, f.o.n)
	start := time.Now()
	if err := benchutil.Parallel(f.o.n, 8, func(i int) error {
		mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name(i)},
			Spec: v1alpha1.MessengerInstanceSpec{NetworkURL: f.h.Sandbox.URL()}}
		applied[i] = time.Now()
		return k.Create(ctx, mi)
	}); err != nil {
		return err
	}
	fmt.Printf("%d applied in %s\n", f.o.n, time.Since(start).Round(time.Millisecond))
	at, err := got.all(f.o.wait)
	if err != nil {
		// Report those that made it and go on with them (the rest are counted as missing).
		fmt.Printf("apply → `got qr code`: %v\n", err)
	}
	var lat []time.Duration
	var ok []int
	for i := range f.o.n {
		if t, seen := at[name(i)]; seen {
			lat = append(lat, t.Sub(applied[i]))
			ok = append(ok, i)
		}
	}
	if len(lat) == 0 {
		return errors.New("no instance showed a QR code")
	}
	f.ids = ok
	slices.Sort(lat)
	fmt.Printf("apply → `got qr code` (%d of %d): p50 %s, p99 %s, max %s; within %s (load %s)\n",
		len(lat), f.o.n, pct(lat, 50), pct(lat, 99), lat[len(lat)-1], time.Since(start).Round(time.Millisecond), benchutil.LoadAvg())
	return nil
}

// pairAll shows each instance's QR code to a phone of its own and waits for all to be
// authenticated.
func (f *fleet) pairAll(ctx context.Context) error {
	auth, stop, err := f.watchStatus(ctx, "authenticated")
	if err != nil {
		return err
	}
	defer stop()
	start := time.Now()
	if err := benchutil.Parallel(len(f.ids), f.o.parallel, func(j int) error { return f.pair(ctx, f.ids[j]) }); err != nil {
		return err
	}
	if _, err := auth.all(f.o.wait); err != nil {
		return err
	}
	fmt.Printf("all %d paired and authenticated in %s (load %s)\n", len(f.ids), time.Since(start).Round(time.Millisecond), benchutil.LoadAvg())
	return nil
}

// pair pairs instance i, fetching its QR code again when the one shown expired before the scan.
func (f *fleet) pair(ctx context.Context, i int) error {
	var err error
	for range 5 {
		if err = f.pairOnce(ctx, i); err == nil {
			return nil
		}
		time.Sleep(time.Second)
	}
	return err
}

func (f *fleet) pairOnce(ctx context.Context, i int) error {
	p := f.h.Node.Pod(ns, name(i)+"-0")
	if p == nil {
		return fmt.Errorf("%s: no pod process", name(i))
	}
	s := &corev1.Secret{}
	if err := f.h.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name(i) + "-token"}, s); err != nil {
		return err
	}
	token := string(s.Data["token"])
	req, _ := http.NewRequestWithContext(ctx, "GET", p.URL()+"/qr_code?format=raw", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: QR code: %w", name(i), err)
	}
	qr, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: QR code: %s", name(i), resp.Status)
	}
	phone := fmt.Sprintf("4918%08d", i)
	sb := f.h.Sandbox.URL()
	if err := benchutil.CallJSON(ctx, httpClient, "POST", sb+"/sandbox/phones", "", map[string]string{"phone": phone, "name": name(i)}, nil); err != nil &&
		!strings.Contains(err.Error(), "exists") {
		return err
	}
	return benchutil.CallJSON(ctx, httpClient, "POST", sb+"/sandbox/phones/"+phone+"/scan", "", map[string]string{"qr": string(qr)}, nil)
}

var httpClient = &http.Client{Timeout: time.Minute}

// measure reads the CPU of the instance processes, the control plane and this process over the
// window, then everyone's memory.
func (f *fleet) measure() error {
	pids := f.instancePids()
	if len(pids) != len(f.ids) {
		return fmt.Errorf("%d of %d instance processes running", len(pids), len(f.ids))
	}
	cp := controlPlane()
	self := os.Getpid()
	before := cpuOf(pids)
	cpBefore := map[string]time.Duration{}
	for comm, pid := range cp {
		cpBefore[comm] = cpuOf([]int{pid})
	}
	selfBefore := cpuOf([]int{self})
	t0 := time.Now()
	time.Sleep(f.o.window)
	el := time.Since(t0)
	if restarted := len(f.instancePids()); restarted != len(pids) {
		return fmt.Errorf("instances changed during the window")
	}
	share := func(d time.Duration) float64 { return 100 * d.Seconds() / el.Seconds() }
	fleetCPU := cpuOf(pids) - before
	fmt.Printf("idle CPU over %s: instances %.1f %% of one core (%.3f %% each); this process (operator, node, sandbox) %.1f %%",
		el.Round(time.Millisecond), share(fleetCPU), share(fleetCPU)/float64(len(pids)), share(cpuOf([]int{self})-selfBefore))
	for comm, pid := range cp {
		fmt.Printf("; %s %.1f %%", comm, share(cpuOf([]int{pid})-cpBefore[comm]))
	}
	fmt.Printf(" (load %s)\n", benchutil.LoadAvg())
	var anon, pss, rss []float64
	for _, pid := range pids {
		a, _ := benchutil.RollupKiB(pid, "Anonymous")
		p, _ := benchutil.RollupKiB(pid, "Pss")
		r, _ := benchutil.RollupKiB(pid, "Rss")
		anon, pss, rss = append(anon, float64(a)/1024), append(pss, float64(p)/1024), append(rss, float64(r)/1024)
	}
	fmt.Printf("instances: Anonymous mean %.2f MiB (total %.0f MiB), Pss mean %.2f MiB (total %.0f MiB), Rss mean %.2f MiB\n",
		mean(anon), sum(anon), mean(pss), sum(pss), mean(rss))
	for comm, pid := range cp {
		r, _ := benchutil.StatusKiB(pid, "VmRSS")
		h, _ := benchutil.StatusKiB(pid, "VmHWM")
		fmt.Printf("%s: VmRSS %.0f MiB (peak %.0f MiB)\n", comm, float64(r)/1024, float64(h)/1024)
	}
	r, _ := benchutil.StatusKiB(self, "VmRSS")
	h, _ := benchutil.StatusKiB(self, "VmHWM")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("this process (operator, node, sandbox with %d connections): VmRSS %.0f MiB (peak %.0f MiB), Go heap in use %.0f MiB\n",
		len(f.ids), float64(r)/1024, float64(h)/1024, float64(ms.HeapInuse)/(1<<20))
	return nil
}

func (f *fleet) instancePids() []int {
	var pids []int
	for _, i := range f.ids {
		if p := f.h.Node.Pod(ns, name(i)+"-0"); p != nil && p.Pid() != 0 {
			pids = append(pids, p.Pid())
		}
	}
	return pids
}

// controlPlane finds this process's kube-apiserver and etcd children.
func controlPlane() map[string]int {
	out := map[string]int{}
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := benchutil.ReadStat(pid)
		if err != nil || st.PPID != self {
			continue
		}
		if strings.Contains(st.Comm, "kube-apiserver") || st.Comm == "etcd" {
			out[st.Comm] = pid
		}
	}
	return out
}

func cpuOf(pids []int) time.Duration {
	var total time.Duration
	for _, pid := range pids {
		if st, err := benchutil.ReadStat(pid); err == nil {
			total += st.CPU
		}
	}
	return total
}

// statusWatch records when each instance first showed an account status.
type statusWatch struct {
	mu   sync.Mutex
	at   map[string]time.Time
	n    int
	done chan struct{}
}

// watchStatus watches the namespace's MessengerInstances for accountStatus == want.
func (f *fleet) watchStatus(ctx context.Context, want string) (*statusWatch, func(), error) {
	wc, err := client.NewWithWatch(f.h.Config, client.Options{Scheme: f.h.Client.Scheme()})
	if err != nil {
		return nil, nil, err
	}
	w, err := wc.Watch(ctx, &v1alpha1.MessengerInstanceList{}, client.InNamespace(ns))
	if err != nil {
		return nil, nil, err
	}
	n := f.o.n
	if f.ids != nil {
		n = len(f.ids)
	}
	sw := &statusWatch{at: map[string]time.Time{}, n: n, done: make(chan struct{})}
	go func() {
		for ev := range w.ResultChan() {
			mi, ok := ev.Object.(*v1alpha1.MessengerInstance)
			if !ok || ev.Type == watch.Deleted || mi.Status.AccountStatus != want {
				continue
			}
			sw.mu.Lock()
			if _, seen := sw.at[mi.Name]; !seen {
				sw.at[mi.Name] = time.Now()
				if len(sw.at) == sw.n {
					close(sw.done)
				}
			}
			sw.mu.Unlock()
		}
	}()
	return sw, w.Stop, nil
}

// all waits until every instance showed the status and returns when each did.
func (sw *statusWatch) all(timeout time.Duration) (map[string]time.Time, error) {
	select {
	case <-sw.done:
	case <-time.After(timeout):
		sw.mu.Lock()
		defer sw.mu.Unlock()
		return maps.Clone(sw.at), fmt.Errorf("only %d of %d instances within %s", len(sw.at), sw.n, timeout)
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.at, nil
}

func pct(d []time.Duration, p int) time.Duration {
	return d[min(len(d)-1, (len(d)*p+99)/100-1)].Round(time.Millisecond)
}

func sum(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t
}

func mean(xs []float64) float64 { return sum(xs) / float64(len(xs)) }
