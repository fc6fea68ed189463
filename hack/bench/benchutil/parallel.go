package benchutil

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/sync/errgroup"
)

// Parallel runs fn(i) for every i in [0,n) on at most k goroutines and returns the first error
// (every fn runs regardless).
func Parallel(n, k int, fn func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(max(k, 1))
	for i := range n {
		g.Go(func() error { return fn(i) })
	}
	return g.Wait()
}

// RawQR fetches an instance's current QR code content (GET /qr_code?format=raw) with token.
func RawQR(ctx context.Context, c *http.Client, base, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/qr_code?format=raw", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching the QR code: %w", err)
	}
	defer resp.Body.Close()
	qr, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetching the QR code: %s %w", resp.Status, err)
	}
	return string(qr), nil
}
