package chaos

import (
	"context"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"
)

// tally waits (up to cfg.Settle) until every accepted message arrived, then counts.
func (f *fleet) tally(ctx context.Context, cfg Config, res Result) (Result, error) {
	deadline := time.Now().Add(cfg.Settle)
	for {
		r, err := f.count(ctx, res)
		if err == nil && (r.Lost == 0 || time.Now().After(deadline)) {
			time.Sleep(2 * time.Second) // late duplicates would show now
			if r, err = f.count(ctx, res); err == nil {
				printTable(cfg, r)
				if r.Lost > 0 {
					for _, n := range f.nodes {
						for _, l := range n.locate(ctx, f.sb, 20) {
							fmt.Fprintln(cfg.Out, l)
						}
					}
				}
			}
			return r, err
		}
		if err != nil && time.Now().After(deadline) {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// count adds up every node's deliveries both ways.
func (f *fleet) count(ctx context.Context, base Result) (Result, error) {
	r := Result{Faults: base.Faults}
	for _, n := range f.nodes {
		out, in, err := n.seen(ctx, f.sb)
		if err != nil {
			return r, err
		}
		n.mu.Lock()
		for _, pair := range []struct {
			want map[string]bool
			seen map[string]int
		}{{n.accepted, out}, {n.sentIn, in}} {
			once, doubled, lost, extra := counts(pair.want, pair.seen)
			if lost > 0 {
				r.Missing = append(r.Missing, fmt.Sprintf("instance %d: %d of %d lost, e.g. %v", n.idx, lost, len(pair.want), missing(pair.want, pair.seen, 5)))
			}
			r.Accepted += len(pair.want)
			r.Once, r.Doubled, r.Lost, r.UnansweredDelivered = r.Once+once, r.Doubled+doubled, r.Lost+lost, r.UnansweredDelivered+extra
		}
		r.Refused += n.refused + n.unanswered
		n.mu.Unlock()
	}
	return r, nil
}

// missing lists up to n wanted bodies that were not seen, in order.
func missing(want map[string]bool, seen map[string]int, n int) []string {
	var out []string
	for b := range want {
		if seen[b] == 0 {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out[:min(n, len(out))]
}

func printTable(cfg Config, r Result) {
	w := tabwriter.NewWriter(cfg.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	var kinds []string
	for k := range r.Faults {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintln(w, "fault\tinjected\t")
	for _, k := range kinds {
		fmt.Fprintf(w, "%s\t%d\t\n", k, r.Faults[k])
	}
	fmt.Fprintln(w, "\t\t")
	fmt.Fprintln(w, "messages (both ways)\tcount\t")
	fmt.Fprintf(w, "accepted\t%d\t\n", r.Accepted)
	fmt.Fprintf(w, "delivered once\t%d\t\n", r.Once)
	fmt.Fprintf(w, "doubled\t%d\t\n", r.Doubled)
	fmt.Fprintf(w, "lost\t%d\t\n", r.Lost)
	fmt.Fprintf(w, "refused or unanswered\t%d\t\n", r.Refused)
	fmt.Fprintf(w, "unanswered, delivered once\t%d\t\n", r.UnansweredDelivered)
	_ = w.Flush()
	for _, m := range r.Missing {
		fmt.Fprintln(cfg.Out, m)
	}
}
