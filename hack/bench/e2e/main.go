// Command e2e measures the instance server end to end against the sandbox: messages
// per second delivered to a sandbox phone through POST /sendMessage against a plain whatsmeow
// client's SendMessage loop on the same sandbox, the resident memory of one idle authenticated
// instance, the start-up time to serving (fresh and paired data dir), and with -rates the latency
// from POST /sendMessage to the server's ack at fixed offered loads, beside the plain client's.
//
//	go run ./hack/bench/e2e -bin bin/messenger-operator
//	go run ./hack/bench/e2e -bin bin/messenger-operator -database postgres -skip-sends -rates 1,10,100
//
// The sandbox runs in a child process (this program re-executed with -serve) and the instance is
// the built binary in a process of its own. With -cpuprofile DIR the instance is instead this
// program re-executed with -instance (the same cobra command in-process) so that its CPU profile
// during each burst, and the baseline client's, land in DIR for `go tool pprof`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
)

// config holds the command-line flags.
type config struct {
	bin, profileDir      string
	messages, clients    int
	rounds, starts       int
	idle, poll           time.Duration
	skipStart, skipSends bool
	database             string // sqlite or postgres
	rates                []float64
	latencyFor           time.Duration
}

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "-serve":
		err = benchutil.ServeSandbox()
	case len(os.Args) > 1 && os.Args[1] == "-instance":
		err = runInstanceChild(os.Args[2:])
	default:
		var cfg config
		if cfg, err = parseFlags(os.Args[1:]); err != nil {
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = run(ctx, cfg)
	}
	if err != nil {
		slog.Error("e2e benchmark failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("e2e-bench", flag.ContinueOnError)
	fs.StringVar(&cfg.bin, "bin", "", "messenger-operator binary (empty: go build it into a temporary directory)")
	fs.StringVar(&cfg.profileDir, "cpuprofile", "", "directory for CPU profiles of the instance and baseline bursts (runs the instance in a child of this program)")
	fs.IntVar(&cfg.messages, "messages", 2000, "messages per burst")
	fs.IntVar(&cfg.clients, "clients", 16, "concurrent HTTP clients posting /sendMessage")
	fs.IntVar(&cfg.rounds, "rounds", 5, "rounds of (instance burst, baseline burst), alternating which goes first")
	fs.IntVar(&cfg.starts, "starts", 7, "start-ups timed for each start-up figure")
	fs.DurationVar(&cfg.idle, "idle", 30*time.Second, "idle time before reading the instance's resident memory")
	fs.DurationVar(&cfg.poll, "poll", 50*time.Millisecond, "how often the receiving phone's messages are polled")
	fs.BoolVar(&cfg.skipStart, "skip-startup", false, "skip the start-up figures")
	fs.BoolVar(&cfg.skipSends, "skip-sends", false, "skip the messages-per-second figure")
	fs.StringVar(&cfg.database, "database", "sqlite", "the instance's store, and the baseline client's sqlstore: sqlite or postgres (a throw-away cluster from internal/testpg; skips the start-up figures)")
	rates := fs.String("rates", "", "comma-separated offered loads in messages/s for the latency figure (POST /sendMessage → the server's ack), e.g. 1,10,100; empty: no latency figure")
	fs.DurationVar(&cfg.latencyFor, "latency-for", 20*time.Second, "how long each offered load of -rates runs (at least 20 messages each)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	for _, r := range strings.Split(*rates, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v <= 0 {
			err = fmt.Errorf("-rates: %q is not a positive rate", r)
			fmt.Fprintln(os.Stderr, err)
			return cfg, err
		}
		cfg.rates = append(cfg.rates, v)
	}
	if cfg.database != "sqlite" && cfg.database != "postgres" {
		err := errors.New("-database must be sqlite or postgres")
		fmt.Fprintln(os.Stderr, err)
		return cfg, err
	}
	if cfg.database == "postgres" {
		cfg.skipStart = true // every start would need a database of its own
	}
	if cfg.messages < 1 || cfg.clients < 1 || cfg.rounds < 1 || cfg.starts < 1 || cfg.poll <= 0 {
		err := errors.New("-messages, -clients, -rounds, -starts and -poll must be positive")
		fmt.Fprintln(os.Stderr, err)
		return cfg, err
	}
	return cfg, nil
}

func run(ctx context.Context, cfg config) error {
	work, err := os.MkdirTemp("", "e2e-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if cfg.bin == "" {
		if cfg.bin, err = buildBinary(ctx, work); err != nil {
			return err
		}
	}
	if cfg.profileDir != "" {
		if cfg.profileDir, err = filepath.Abs(cfg.profileDir); err != nil {
			return err
		}
	}
	fmt.Printf("# instance end-to-end figures, %s, %d cores, %s, load %s\n", time.Now().UTC().Format(time.RFC3339),
		runtime.NumCPU(), runtime.Version(), benchutil.LoadAvg())
	dbs, err := startDatabases(ctx, cfg.database, work)
	if err != nil {
		return err
	}
	defer dbs.stop()
	fmt.Printf("store: %s\n", cfg.database)
	sb, err := startSandbox(ctx)
	if err != nil {
		return err
	}
	defer sb.stop()
	l := launcher{bin: cfg.bin, network: sb.api.url, profileDir: cfg.profileDir, database: dbs.instance}
	fmt.Printf("instance process: %s\n", map[bool]string{true: cfg.bin, false: "this program's -instance child (profiling)"}[cfg.profileDir == ""])
	if !cfg.skipStart {
		if err := freshStartFigure(ctx, cfg, l, work); err != nil {
			return err
		}
	}
	return pairedFigures(ctx, cfg, l, sb, dbs, work)
}

// pairedFigures pairs one instance, then measures its idle memory, the send rate and restarts.
func pairedFigures(ctx context.Context, cfg config, l launcher, sb *sandboxProc, dbs *databases, work string) error {
	const instPhone, basePhone = "15550000001", "15550000002"
	for phone, name := range map[string]string{instPhone: "Instance", basePhone: "Baseline"} {
		if err := sb.api.addPhone(ctx, phone, name); err != nil {
			return err
		}
	}
	dir := filepath.Join(work, "paired")
	inst, err := l.start(dir)
	if err != nil {
		return err
	}
	defer func() {
		if inst != nil {
			inst.stop()
		}
	}()
	if err := inst.pair(ctx, sb.api, instPhone); err != nil {
		return fmt.Errorf("pairing the instance: %w", err)
	}
	if err := memoryFigure(ctx, cfg, inst); err != nil {
		return err
	}
	if !cfg.skipSends || len(cfg.rates) > 0 {
		base, err := newBaseline(ctx, sb.api.url, dbs.baselineDialect, dbs.baseline)
		if err != nil {
			return err
		}
		defer base.close()
		if err := base.pair(ctx, sb.api, basePhone); err != nil {
			return fmt.Errorf("pairing the baseline client: %w", err)
		}
		r := rig{cfg: cfg, sb: sb, inst: inst, base: base}
		if !cfg.skipSends {
			if err := throughputFigure(ctx, r); err != nil {
				return err
			}
		}
		if len(cfg.rates) > 0 {
			if err := latencyFigure(ctx, r); err != nil {
				return err
			}
		}
	}
	if cfg.skipStart {
		return nil
	}
	inst.stop()
	if err := restartFigure(ctx, cfg, l, dir); err != nil {
		return err
	}
	if inst, err = l.start(dir); err != nil { // checks the account is still linked
		return err
	}
	_, err = inst.waitStatus(ctx, "authenticated", 50*time.Millisecond)
	return err
}

// buildBinary builds messenger-operator as `make build` does (from the repository root, the
// working directory).
func buildBinary(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "messenger-operator")
	c := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	c.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as `make build`
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("go build (run from the repository root): %w", err)
	}
	return bin, nil
}
