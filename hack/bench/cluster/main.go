// Command cluster measures the figures of the cluster integration under the e2e
// harness (real kube-apiserver and etcd, the operator, a sandbox, instance pods as processes):
//
//   - latency from a QR change in an instance to the new QR in its MessengerInstance status;
//   - API server writes (status patches, Lease updates) per instance per hour, idle and busy;
//   - with N instances: total resident memory, and the time from apply to `got qr code`.
//
// Run from the repository root after `make build`:
//
//	KUBEBUILDER_ASSETS=$(hack/envtest-bins.sh) go run ./hack/bench/cluster -binary bin/messenger-operator
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/messenger-operator/messenger-operator/test/e2e"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench cluster:", err)
		os.Exit(1)
	}
}

func run() error {
	binary := flag.String("binary", "bin/messenger-operator", "messenger-operator binary")
	samples := flag.Int("qr-samples", 100, "QR changes measured")
	window := flag.Duration("window", 2*time.Minute, "measurement window of the idle and busy write counts")
	rate := flag.Int("rate", 5, "busy: messages per second each way")
	fleet := flag.Int("instances", 50, "instances of the fleet run (0 skips it)")
	flag.Parse()
	bin, err := filepath.Abs(*binary)
	if err != nil {
		return err
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-cluster-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	h, err := e2e.Start(ctx, e2e.Options{Binary: bin, Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer func() { _ = h.Stop() }()
	fmt.Printf("machine: %d CPUs (%s/%s), %s; date %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		memTotal(), time.Now().UTC().Format("2006-01-02"))
	b := &bench{h: h, binary: bin}
	if err := b.setup(ctx); err != nil {
		return err
	}
	if err := b.qrLatency(ctx, *samples); err != nil {
		return err
	}
	if err := b.writes(ctx, *window, *rate); err != nil {
		return err
	}
	if *fleet > 0 {
		return b.fleet(ctx, *fleet)
	}
	return nil
}
