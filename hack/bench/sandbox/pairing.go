package main

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// pairFigure pairs cfg.pairings fresh clients one after the other, each to a fresh phone, and
// reports the time from QR shown to the Connected event.
func pairFigure(ctx context.Context, cfg config) error {
	sb, err := startChild(ctx)
	if err != nil {
		return err
	}
	defer sb.stop()
	api := &adminAPI{url: sb.url}
	var toPaired, toConnected []time.Duration
	for i := range cfg.pairings {
		phone := fmt.Sprintf("1555300%04d", i)
		if err := api.addPhone(ctx, phone); err != nil {
			return err
		}
		c, err := newClient(ctx, sb.url)
		if err != nil {
			return err
		}
		t, err := c.pair(ctx, api, phone)
		c.close()
		if err != nil {
			return fmt.Errorf("pairing %d: %w", i, err)
		}
		toPaired, toConnected = append(toPaired, t.toPaired), append(toConnected, t.toConnected)
	}
	fmt.Printf("\n## Time to pair one client (%d sequential pairings, sandbox in its own process)\n", cfg.pairings)
	fmt.Printf("QR shown → PairSuccess: median %v, p90 %v\n", percentile(toPaired, 50), percentile(toPaired, 90))
	fmt.Printf("QR shown → Connected:   median %v, p90 %v, min %v, max %v\n", percentile(toConnected, 50),
		percentile(toConnected, 90), slices.Min(toConnected), slices.Max(toConnected))
	return nil
}

// percentile returns the p-th percentile (nearest rank) of ds, rounded to 0.1 ms.
func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	if rank < 1 {
		rank = 1
	}
	return s[rank-1].Round(100 * time.Microsecond)
}
