package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/messenger-operator/messenger-operator/hack/chaos/rig"
)

// goFigures are the instance's Go runtime figures this soak follows, by /metrics name: a slope in
// the goroutines or the live heap is a leak in Go code; RSS growing while they stay flat is
// memory outside the Go heap (or the heap's free pages not yet returned).
var goFigures = []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_heap_objects"}

// readGoFigures reads goFigures from the instance's Prometheus endpoint.
func readGoFigures(ctx context.Context, inst *rig.Instance) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", inst.Base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+rig.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for _, f := range goFigures {
			if name == f {
				if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
					out[f] = v
				}
			}
		}
	}
	return out, sc.Err()
}
