// Command operator measures the operator's scaling figures against a real kube-apiserver and etcd
// (envtest binaries from hack/envtest-bins.sh):
//
//   - the time for N MessengerInstances created at once to all have their children and a first
//     status, against the time a bare client takes to create the same objects on the same API
//     server with the same parallelism;
//   - the operator's resident memory with N instances (the operator runs as a child process);
//   - reconciles per second at steady state with no changes.
//
// Run from the repository root: go run ./hack/bench/operator -n 1000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
)

type options struct {
	n, workers int
	steady     time.Duration
	crdDir     string
	child      string // kubeconfig path: run as the operator child process
	metrics    string
	health     string
	binary     string // run this messenger-operator binary's `operator` command instead
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 1000, "number of MessengerInstances")
	flag.IntVar(&o.workers, "workers", 4, "parallelism of the bare client and --max-concurrent-reconciles of the operator")
	flag.DurationVar(&o.steady, "steady", 60*time.Second, "length of the steady-state window")
	flag.StringVar(&o.crdDir, "crd", "config/crd/bases", "directory of the CRD manifests")
	flag.StringVar(&o.child, "child-kubeconfig", "", "internal: run the operator against this kubeconfig")
	flag.StringVar(&o.metrics, "child-metrics", "", "internal: metrics address of the child")
	flag.StringVar(&o.health, "child-health", "", "internal: health address of the child")
	flag.StringVar(&o.binary, "binary", "", "measure this messenger-operator binary (its `operator` subcommand) instead of the in-tree manager")
	flag.Parse()
	var err error
	if o.child != "" {
		err = runOperator(o)
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runOperator is the child process: the real manager, as `messenger-operator operator` builds it.
func runOperator(o options) error {
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	cfg, err := clientcmd.BuildConfigFromFlags("", o.child)
	if err != nil {
		return err
	}
	cfg.QPS = -1
	mgr, err := controllers.NewManager(cfg, controllers.ManagerOptions{
		MetricsBindAddress:      o.metrics,
		HealthProbeBindAddress:  o.health,
		MaxConcurrentReconciles: o.workers,
		InstanceImage:           "messenger-operator:bench",
		// Only the operator's namespace: the baseline's instances are not its business.
		Namespaces: []string{"bench"},
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return mgr.Start(ctx)
}

func run(o options) error {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		out, err := exec.Command("hack/envtest-bins.sh").Output()
		if err != nil {
			return fmt.Errorf("hack/envtest-bins.sh: %w", err)
		}
		os.Setenv("KUBEBUILDER_ASSETS", strings.TrimSpace(string(out)))
	}
	env, err := testenv.Start(testenv.Options{
		CRDDirs:   []string{o.crdDir},
		NewScheme: controllers.NewScheme,
		// envtest's default Service range (a /24) holds too few ClusterIPs for 2×N Services.
		APIServerFlags: map[string]string{"service-cluster-ip-range": "10.96.0.0/12"},
		Unthrottled:    true,
	})
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	c := env.Client
	ctx := context.Background()

	fmt.Printf("machine: %s, %d cores, %s; N=%d, parallelism %d; load average %s\n",
		cpuModel(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"), o.n, o.workers, benchutil.LoadAvg())

	// Baseline: a bare client creates, per instance, the MessengerInstance and the same seven
	// children the operator makes, and writes one status — no reads, no watches, no logic.
	base, err := baseline(ctx, c, o)
	if err != nil {
		return err
	}
	fmt.Printf("bare client: %d writes in %s (%.0f writes/s)\n", o.n*9, base.Round(time.Millisecond), float64(o.n*9)/base.Seconds())

	// The operator, as a separate process so that its memory can be read alone.
	child, metricsURL, err := startOperator(env, o)
	if err != nil {
		return err
	}
	defer func() { _ = child.Process.Signal(syscall.SIGTERM); _ = child.Wait() }()

	opTime, err := operatorRun(ctx, c, o)
	if err != nil {
		return err
	}
	fmt.Printf("operator: %d instances with all children and a first status in %s; ratio to bare client %.2f\n",
		o.n, opTime.Round(time.Millisecond), opTime.Seconds()/base.Seconds())
	if total, err := reconcileTotal(metricsURL); err == nil {
		fmt.Printf("reconciles so far: %.0f (%.2f per instance)\n", total, total/float64(o.n))
	}
	if os.Getenv("BENCH_DEBUG") != "" {
		if resp, err := http.Get(metricsURL); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(body), "\n") {
				if strings.Contains(l, "reconcile_total") || strings.Contains(l, "workqueue_adds_total") || strings.Contains(l, "messenger_operator") {
					fmt.Println("  ", l)
				}
			}
		}
	}
	fmt.Printf("load average: %s\n", benchutil.LoadAvg())

	// Steady state: let the queue drain, then count reconciles over the window.
	time.Sleep(10 * time.Second)
	before, err := reconcileTotal(metricsURL)
	if err != nil {
		return err
	}
	time.Sleep(o.steady)
	after, err := reconcileTotal(metricsURL)
	if err != nil {
		return err
	}
	rss, hwm := procMemory(child.Process.Pid)
	fmt.Printf("operator RSS with %d instances: %.1f MiB (peak %.1f MiB)\n", o.n, rss, hwm)
	fmt.Printf("steady state: %.0f reconciles in %s = %.3f reconciles/s\n", after-before, o.steady, (after-before)/o.steady.Seconds())
	return nil
}

func createNamespace(ctx context.Context, c client.Client, name string) error {
	return c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

// typed converts an apply configuration from the real builders into a typed object.
func typed(ac any, obj client.Object) (client.Object, error) {
	raw, err := json.Marshal(ac)
	if err != nil {
		return nil, err
	}
	return obj, json.Unmarshal(raw, obj)
}

func baseline(ctx context.Context, c client.Client, o options) (time.Duration, error) {
	ns := "baseline"
	if err := createNamespace(ctx, c, ns); err != nil {
		return 0, err
	}
	start := time.Now()
	err := benchutil.Parallel(o.n, o.workers, func(i int) error {
		mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("mi-%d", i), Namespace: ns}}
		if err := c.Create(ctx, mi); err != nil {
			return err
		}
		objs := []struct {
			ac  any
			obj client.Object
		}{
			{controllers.BuildServiceAccount(mi), &corev1.ServiceAccount{}},
			{controllers.BuildRole(mi), &rbacv1.Role{}},
			{controllers.BuildRoleBinding(mi), &rbacv1.RoleBinding{}},
			{controllers.BuildLease(mi), &coordinationv1.Lease{}},
			{controllers.BuildService(mi), &corev1.Service{}},
			{controllers.BuildStatefulSet(mi, controllers.BuildOptions{DefaultImage: "messenger-operator:bench"}), &appsv1.StatefulSet{}},
		}
		for _, x := range objs {
			obj, err := typed(x.ac, x.obj)
			if err != nil {
				return err
			}
			if err := c.Create(ctx, obj); err != nil {
				return fmt.Errorf("creating %T: %w", obj, err)
			}
		}
		if err := c.Create(ctx, controllers.BuildTokenSecret(mi, "token")); err != nil {
			return err
		}
		mi.Status.ObservedGeneration = mi.Generation
		mi.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Progressing", LastTransitionTime: metav1.Now()}}
		return c.Status().Update(ctx, mi)
	})
	return time.Since(start), err
}

func startOperator(env *testenv.Env, o options) (*exec.Cmd, string, error) {
	dir, err := os.MkdirTemp("", "bench-operator")
	if err != nil {
		return nil, "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig("bench-operator", path); err != nil {
		return nil, "", err
	}
	metrics, err := testenv.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	health, err := testenv.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self, "-child-kubeconfig", path, "-child-metrics", metrics, "-child-health", health, "-workers", strconv.Itoa(o.workers))
	if o.binary != "" {
		cmd = exec.Command(o.binary, "operator", "--kubeconfig", path, "--metrics-bind-address", metrics,
			"--health-probe-bind-address", health, "--max-concurrent-reconciles", strconv.Itoa(o.workers),
			"--namespaces", "bench", "--instance-image", "messenger-operator:bench")
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + health + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, "http://" + metrics + "/metrics", nil
			}
		}
	}
	return nil, "", errors.New("operator did not become ready")
}

// operatorRun creates N instances at once and waits until each has every child and a first
// status (observedGeneration and a Ready condition).
func operatorRun(ctx context.Context, c client.Client, o options) (time.Duration, error) {
	ns := "bench"
	if err := createNamespace(ctx, c, ns); err != nil {
		return 0, err
	}
	start := time.Now()
	err := benchutil.Parallel(o.n, o.workers, func(i int) error {
		return c.Create(ctx, &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("mi-%d", i), Namespace: ns}})
	})
	if err != nil {
		return 0, err
	}
	// Poll once a second, reading StatefulSet metadata only, to load the API server little.
	for deadline := time.Now().Add(30 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		done, err := countDone(ctx, c, ns)
		if err != nil {
			return 0, err
		}
		if done == o.n {
			return time.Since(start), nil
		}
	}
	return 0, errors.New("instances not reconciled within 30 minutes")
}

// countDone counts instances with a first status whose StatefulSet (the last child applied)
// exists.
func countDone(ctx context.Context, c client.Client, ns string) (int, error) {
	mis := &v1alpha1.MessengerInstanceList{}
	if err := c.List(ctx, mis, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	stss := &metav1.PartialObjectMetadataList{}
	stss.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("StatefulSetList"))
	if err := c.List(ctx, stss, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	have := map[string]bool{}
	for _, s := range stss.Items {
		have[s.Name] = true
	}
	done := 0
	for _, mi := range mis.Items {
		if mi.Status.ObservedGeneration == mi.Generation && len(mi.Status.Conditions) > 0 && have[mi.Name] {
			done++
		}
	}
	return done, nil
}

// reconcileTotal sums controller_runtime_reconcile_total of the messengerinstance controller.
func reconcileTotal(url string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "controller_runtime_reconcile_total{") && strings.Contains(line, `controller="messengerinstance"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				return 0, err
			}
			total += v
		}
	}
	return total, nil
}

// procMemory returns VmRSS and VmHWM of pid in MiB (0 when unknown).
func procMemory(pid int) (rss, hwm float64) {
	r, _ := benchutil.StatusKiB(pid, "VmRSS")
	h, _ := benchutil.StatusKiB(pid, "VmHWM")
	return float64(r) / 1024, float64(h) / 1024
}

func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.Index(line, ":"); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return runtime.GOARCH
}
