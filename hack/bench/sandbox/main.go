// Command sandbox measures the figures of the sandbox network: messages per second
// routed end to end between real whatsmeow clients against the Signal encryption cost alone,
// memory per connected idle client on the sandbox side, and the time to pair one client.
//
//	go run ./hack/bench/sandbox -fig all -bin bin/messenger-operator
//
// The sandbox always runs in a separate process so that the clients' CPU and memory do not
// pollute its figures: for the throughput and pairing figures this program re-executes itself
// with -serve (a sandbox with a CPU-profile switch); for the memory figure it runs the built
// messenger-operator binary given by -bin.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config holds the command-line flags.
type config struct {
	fig         string
	messages    int
	pairs       []int
	clients     int
	phones      int
	workers     int
	pairings    int
	bin         string
	profileDir  string
	memoryChild bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		if err := serve(); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		slog.Error("benchmark failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("sandbox-bench", flag.ContinueOnError)
	fs.StringVar(&cfg.fig, "fig", "all", "figure to measure: all, throughput, memory, pair")
	fs.IntVar(&cfg.messages, "messages", 2000, "messages per sender pair for the throughput figure")
	pairs := fs.String("pairs", "1,4,8", "comma-separated numbers of concurrent sender pairs")
	fs.IntVar(&cfg.clients, "clients", 500, "idle clients for the memory figure")
	fs.IntVar(&cfg.phones, "phones", 10, "phones the idle clients are linked to (memory figure)")
	fs.IntVar(&cfg.workers, "workers", 6, "concurrent pairings while connecting the idle clients")
	fs.IntVar(&cfg.pairings, "pairings", 20, "sequential pairings for the pairing-time figure")
	fs.StringVar(&cfg.bin, "bin", "", "messenger-operator binary for the memory figure (empty: go build it)")
	fs.StringVar(&cfg.profileDir, "profile-dir", os.TempDir(), "where the sandbox-side CPU profiles go")
	fs.BoolVar(&cfg.memoryChild, "memory-child", false, "memory figure: use this program's -serve child (writes a heap profile) instead of -bin")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	for _, p := range strings.Split(*pairs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("-pairs: %q is not a positive number", p)
		}
		cfg.pairs = append(cfg.pairs, n)
	}
	switch cfg.fig {
	case "all", "throughput", "memory", "pair":
	default:
		return cfg, fmt.Errorf("-fig: unknown figure %q", cfg.fig)
	}
	if cfg.messages < 1 || cfg.clients < 1 || cfg.phones < 1 || cfg.workers < 1 || cfg.pairings < 1 {
		return cfg, fmt.Errorf("-messages, -clients, -phones, -workers and -pairings must be positive")
	}
	return cfg, nil
}

func run(ctx context.Context, cfg config) error {
	fmt.Printf("# sandbox figures, %s, %s\n", time.Now().UTC().Format(time.RFC3339), machine())
	if cfg.fig == "all" || cfg.fig == "pair" {
		if err := pairFigure(ctx, cfg); err != nil {
			return fmt.Errorf("pairing figure: %w", err)
		}
	}
	if cfg.fig == "all" || cfg.fig == "throughput" {
		if err := throughputFigure(ctx, cfg); err != nil {
			return fmt.Errorf("throughput figure: %w", err)
		}
	}
	if cfg.fig == "all" || cfg.fig == "memory" {
		if err := memoryFigure(ctx, cfg); err != nil {
			return fmt.Errorf("memory figure: %w", err)
		}
	}
	return nil
}
