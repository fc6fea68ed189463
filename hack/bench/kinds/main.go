// Command kinds measures, for each kind of message the instance sends (text as the baseline,
// location, vCard, link preview, poll, reaction, edit, voice note, sticker, video, image), the
// time from the API call to the moment the receiving sandbox phone shows its decrypted copy (for
// media: downloaded and decrypted), over -sends sends one after the other, and prints p50, p99
// and their ratio to text as a Markdown table.
//
//	go run ./hack/bench/kinds -bin bin/messenger-operator            # every kind
//	go run ./hack/bench/kinds -bin bin/messenger-operator -kinds text # the baseline alone
//
// The sandbox runs in a child process (this program re-executed with -serve), the instance is the
// built binary in a process of its own, paired by QR. Each kind sends to a fresh phone, after one
// untimed text that sets up the Signal session; the phone's list is polled every -poll.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
)

// config holds the command-line flags.
type config struct {
	bin     string
	kinds   []string
	sends   int
	poll    time.Duration
	timeout time.Duration
}

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		err = benchutil.ServeSandbox()
	} else {
		var cfg config
		if cfg, err = parseFlags(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = run(ctx, cfg)
	}
	if err != nil {
		slog.Error("kinds benchmark failed", "err", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	cfg := config{}
	fs := flag.NewFlagSet("kinds-bench", flag.ContinueOnError)
	fs.StringVar(&cfg.bin, "bin", "", "messenger-operator binary (empty: go build it into a temporary directory)")
	list := fs.String("kinds", strings.Join(kindNames(), ","), "comma-separated kinds to measure; text, the baseline, is always measured first")
	fs.IntVar(&cfg.sends, "sends", 200, "timed sends per kind")
	fs.DurationVar(&cfg.poll, "poll", 2*time.Millisecond, "how often the receiving phone's messages are polled")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "longest wait for one message to reach the phone")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.sends < 1 || cfg.poll <= 0 || cfg.timeout <= 0 {
		return cfg, errors.New("-sends, -poll and -timeout must be positive")
	}
	cfg.kinds = []string{"text"}
	for _, k := range strings.Split(*list, ",") {
		k = strings.TrimSpace(k)
		switch {
		case k == "" || slices.Contains(cfg.kinds, k):
		case kindByName(k) == nil:
			return cfg, fmt.Errorf("-kinds: unknown kind %q (known: %s)", k, strings.Join(kindNames(), ", "))
		default:
			cfg.kinds = append(cfg.kinds, k)
		}
	}
	return cfg, nil
}

func run(ctx context.Context, cfg config) error {
	work, err := os.MkdirTemp("", "kinds-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if cfg.bin == "" {
		if cfg.bin, err = buildBinary(ctx, work); err != nil {
			return err
		}
	}
	payloads, err := newPayloads()
	if err != nil {
		return err
	}
	fmt.Printf("# time to the phone's decrypted copy, per kind: %s, %d cores, %s, load %s\n",
		time.Now().UTC().Format(time.RFC3339), runtime.NumCPU(), runtime.Version(), benchutil.LoadAvg())
	fmt.Printf("%d sends per kind, one at a time; phone polled every %v; payloads: %s\n\n", cfg.sends, cfg.poll, payloads.desc)
	sb, err := startSandbox(ctx)
	if err != nil {
		return err
	}
	defer sb.stop()
	inst, err := startInstance(cfg.bin, sb.url, work)
	if err != nil {
		return err
	}
	defer inst.stop()
	const instPhone = "15550000001"
	if err := sb.addPhone(ctx, instPhone, "Instance"); err != nil {
		return err
	}
	if err := inst.pair(ctx, sb, instPhone); err != nil {
		return fmt.Errorf("pairing the instance: %w (log: %s)", err, inst.logPath)
	}
	b := bench{cfg: cfg, sb: sb, inst: inst, payloads: payloads}
	var results []result
	for i, name := range cfg.kinds {
		r, err := b.measure(ctx, kindByName(name), fmt.Sprintf("1555100%04d", i))
		if err != nil {
			return fmt.Errorf("kind %s: %w (instance log: %s)", name, err, inst.logPath)
		}
		fmt.Fprintf(os.Stderr, "%s: p50 %v, p99 %v\n", name, r.p50, r.p99)
		results = append(results, r)
	}
	printTable(results)
	fmt.Printf("\nload after the run: %s\n", benchutil.LoadAvg())
	return nil
}

// printTable prints one row per kind with its ratios to the first row (text).
func printTable(rs []result) {
	fmt.Println("| kind | endpoint | sends | p50 | p99 | p50 / text | p99 / text |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|")
	base := rs[0]
	for _, r := range rs {
		fmt.Printf("| %s | `%s` | %d | %s | %s | %.2f | %.2f |\n", r.kind, r.endpoint, r.n, ms(r.p50), ms(r.p99),
			float64(r.p50)/float64(base.p50), float64(r.p99)/float64(base.p99))
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
