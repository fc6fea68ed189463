// Command chaos runs several instance servers (the built binary) against a sandbox process with
// steady traffic both ways and injects a random mix of faults for a set time: kill -9 and
// restart of an instance, SIGSTOP/SIGCONT, sandbox fault kinds (disconnect, …) and a restart of
// the sandbox. It prints the faults injected by kind and the messages accepted, delivered once,
// doubled and lost, and exits non-zero when any was lost or doubled.
//
//	go run ./hack/chaos -bin bin/messenger-operator -duration 10m -instances 3
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/chaos/chaos"
)

func main() {
	cfg := chaos.Config{Out: os.Stdout}
	kinds := strings.Join(chaos.DefaultKinds, ",")
	flag.StringVar(&cfg.Bin, "bin", "bin/messenger-operator", "messenger-operator binary (make build)")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Minute, "how long faults are injected")
	flag.IntVar(&cfg.Instances, "instances", 3, "instance servers")
	flag.StringVar(&kinds, "kinds", kinds, "fault kinds, comma separated: kill, suspend, sandbox-restart and the sandbox's (disconnect, stale, undecryptable, …)")
	flag.DurationVar(&cfg.Every, "every", 5*time.Second, "one fault per interval")
	flag.DurationVar(&cfg.Traffic, "traffic", 200*time.Millisecond, "one message each way per instance per interval")
	flag.DurationVar(&cfg.Settle, "settle", 3*time.Minute, "how long to wait for deliveries after the faults")
	flag.Parse()
	cfg.Kinds = strings.Split(kinds, ",")
	if cfg.Instances < 1 || cfg.Every <= 0 || cfg.Traffic <= 0 {
		fmt.Fprintln(os.Stderr, "-instances, -every and -traffic must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := chaos.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	if !res.OK() {
		fmt.Fprintf(os.Stderr, "chaos: %d lost, %d doubled\n", res.Lost, res.Doubled)
		os.Exit(1)
	}
}
