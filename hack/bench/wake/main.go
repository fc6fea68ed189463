// Command wake measures the wake latency of hibernation for docs/benchmarks.md: the time from a
// Chat API call through the gateway to a hibernated instance until its answer (the gateway asks
// the operator to wake it, the operator scales the StatefulSet to one, the pod starts and serves
// /readyz, the call is proxied), p50 and p99 over N wakes, on the e2e harness (real
// kube-apiserver, operator and instance process; the node starts the process where a kubelet
// would start a container, so image pulls and scheduling are not in the figure).
//
//	go build -o bin/messenger-operator . && go run ./hack/bench/wake -binary bin/messenger-operator -wakes 20
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/gateway"
	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/internal/qrscan"
	"github.com/messenger-operator/messenger-operator/test/e2e"
)

const (
	ns, name = "bench", "sleepy"
	phone    = "15550009999"
)

func main() {
	binary := flag.String("binary", "bin/messenger-operator", "messenger-operator binary the instance pod runs")
	wakes := flag.Int("wakes", 20, "hibernate/wake cycles")
	idle := flag.Duration("idle-after", 2*time.Second, "spec.hibernation.idleAfter")
	flag.Parse()
	bin, err := filepath.Abs(*binary)
	if err != nil {
		log.Fatal(err)
	}
	if err := run(context.Background(), bin, *wakes, *idle); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, binary string, n int, idle time.Duration) error {
	h, err := e2e.Start(ctx, e2e.Options{Binary: binary})
	if err != nil {
		return err
	}
	defer func() { _ = h.Stop() }()
	k := h.Client
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	if err := k.Create(ctx, &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.MessengerInstanceSpec{NetworkURL: h.Sandbox.URL(),
			Hibernation: &v1alpha1.HibernationSpec{IdleAfter: metav1.Duration{Duration: idle}}}}); err != nil {
		return err
	}
	if err := pair(ctx, h); err != nil {
		return fmt.Errorf("pairing: %w", err)
	}
	gw, err := gateway.New(h.Config, gateway.Options{DialContext: h.Node.DialContext, WakeTimeout: time.Minute,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	if err := gw.Start(ctx); err != nil {
		return err
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	token, err := tokenOf(ctx, k)
	if err != nil {
		return err
	}
	url := srv.URL + "/" + ns + "/" + name + "/status"
	var lat, awake []time.Duration
	for i := range n {
		if err := wait(func() error { return asleep(ctx, h) }); err != nil {
			return fmt.Errorf("wake %d: not hibernated: %w", i, err)
		}
		t0 := time.Now()
		var st map[string]any
		if err := benchutil.CallJSON(ctx, http.DefaultClient, http.MethodGet, url, token, nil, &st); err != nil {
			return fmt.Errorf("wake %d: %w", i, err)
		}
		lat = append(lat, time.Since(t0))
		t1 := time.Now() // the same call to the awake instance: the reference of the ratio
		if err := benchutil.CallJSON(ctx, http.DefaultClient, http.MethodGet, url, token, nil, &st); err != nil {
			return fmt.Errorf("awake call %d: %w", i, err)
		}
		awake = append(awake, time.Since(t1))
	}
	slices.Sort(lat)
	slices.Sort(awake)
	fmt.Printf("machine: %d CPUs, %s/%s, %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, benchutil.LoadAvg())
	p50, p99 := lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	ref := awake[len(awake)/2]
	fmt.Printf("| wakes | idleAfter | call → answered p50 | p99 | max | same call awake p50 | ratio p50 |\n|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %s | %d ms | %d ms | %d ms | %.2f ms | %.0f× |\n", len(lat), idle, p50.Milliseconds(), p99.Milliseconds(),
		lat[len(lat)-1].Milliseconds(), float64(ref.Microseconds())/1000, float64(p50)/float64(ref))
	return nil
}

// pair scans the instance's QR code with a sandbox phone and waits until it is authenticated.
func pair(ctx context.Context, h *e2e.Harness) error {
	sb := h.Sandbox.URL()
	if err := benchutil.CallJSON(ctx, http.DefaultClient, http.MethodPost, sb+"/sandbox/phones", "",
		map[string]string{"phone": phone, "name": "Bench"}, nil); err != nil {
		return err
	}
	if err := wait(func() error {
		mi, err := get(ctx, h.Client)
		if err != nil {
			return err
		}
		if mi.Status.QRCode == "" {
			return errors.New("no QR code yet")
		}
		text, err := qrscan.DecodeDataURI(mi.Status.QRCode)
		if err != nil {
			return err
		}
		return benchutil.CallJSON(ctx, http.DefaultClient, http.MethodPost, sb+"/sandbox/phones/"+phone+"/scan", "", map[string]string{"qr": text}, nil)
	}); err != nil {
		return err
	}
	return wait(func() error {
		mi, err := get(ctx, h.Client)
		if err != nil || mi.Status.AccountStatus != v1alpha1.AccountStatusAuthenticated {
			return fmt.Errorf("not authenticated (%v)", err)
		}
		return nil
	})
}

// asleep is nil once the instance is hibernated and its process gone.
func asleep(ctx context.Context, h *e2e.Harness) error {
	mi, err := get(ctx, h.Client)
	if err != nil {
		return err
	}
	if !meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionHibernated) || h.Node.Pod(ns, name+"-0") != nil {
		return errors.New("awake")
	}
	return nil
}

func get(ctx context.Context, k client.Client) (*v1alpha1.MessengerInstance, error) {
	mi := &v1alpha1.MessengerInstance{}
	return mi, k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, mi)
}

func tokenOf(ctx context.Context, k client.Client) (string, error) {
	s := &corev1.Secret{}
	if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-token"}, s); err != nil {
		return "", err
	}
	return string(s.Data["token"]), nil
}

func wait(f func() error) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
