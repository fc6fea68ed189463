// Package webhook delivers the store's webhook outbox: it groups pending events into batches whose
// body and webhook-id are frozen, POSTs them strictly in order, signs them per the Standard Webhooks
// scheme when a secret is set, and retries with exponential backoff and jitter until a batch is
// delivered or older than the retry window (at least 24 h).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/redact"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// Defaults of Options.
const (
	DefaultMaxBatch  = 100
	DefaultBaseDelay = 5 * time.Second
	DefaultMaxDelay  = 30 * time.Minute
	DefaultMaxAge    = 72 * time.Hour
)

// Options configure a Dispatcher.
type Options struct {
	Store *store.Store
	// Client posts the batches; use fetch.Guard.Client so webhooks get the same SSRF guard.
	Client *http.Client
	// InstanceID fills the payload's instanceId.
	InstanceID string
	// Secret is the Standard Webhooks signing key: whsec_<base64> or raw; empty sends unsigned.
	Secret string
	// Now is the clock (time.Now if nil); tests inject a fake one.
	Now func() time.Time
	// Rewrite, if set, adjusts each message before it is frozen into a batch (e.g. media links).
	Rewrite func(*chat.Message)
	// MaxBatch caps events per batch; BaseDelay and MaxDelay shape the backoff; MaxAge is how long
	// a batch is retried before it is given up. Zero values take the defaults.
	MaxBatch  int
	BaseDelay time.Duration
	MaxDelay  time.Duration
	MaxAge    time.Duration
	Logger    *slog.Logger
	// Observe, if set, is told the outcome of each attempt ("delivered", "failed", "dead").
	Observe func(outcome string, events int, age time.Duration)
}

// batchesAhead is how many batches are formed per transaction, and how many deliveries may be
// recorded at once.
const batchesAhead = 8

// Dispatcher delivers the outbox. Step does one unit of work; Run loops over it. It is not safe for
// concurrent use (one Run or one caller of Step).
type Dispatcher struct {
	opts Options
	key  []byte
	kick chan struct{}
	// delivered is the seq of the last batch delivered; recorded up to flushed.
	delivered, flushed int64
	// idleNow is true while Run waits with nothing to do (for tests and diagnostics).
	idleNow atomic.Bool
}

// New checks the options and returns a dispatcher.
func New(opts Options) (*Dispatcher, error) {
	if opts.Store == nil || opts.Client == nil {
		return nil, errors.New("webhook: a store and an HTTP client are required")
	}
	key, err := ParseSecret(opts.Secret)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = DefaultBaseDelay
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{opts: opts, key: key, kick: make(chan struct{}, 1)}, nil
}

// ParseSecret decodes a signing key: whsec_<base64> is decoded, anything else is used as raw bytes.
func ParseSecret(secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		key, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("webhook secret: whsec_ must be followed by base64: %w", err)
		}
		if len(key) == 0 {
			return nil, errors.New("webhook secret: empty key after whsec_")
		}
		return key, nil
	}
	return []byte(secret), nil
}

// Sign returns the webhook-signature header value for one delivery.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Kick makes Run look at the outbox now (e.g. after the webhook URL changed).
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// idle is the wait Step returns when there is nothing to do until new events arrive.
const idle = time.Duration(1<<63 - 1)

// Run delivers until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	defer func() {
		if err := d.Flush(context.WithoutCancel(ctx)); err != nil {
			d.opts.Logger.Warn("recording webhook deliveries", "error", err)
		}
	}()
	for {
		wait, err := d.Step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.opts.Logger.Error("webhook outbox", "error", err)
			wait = d.opts.BaseDelay
		}
		if wait == 0 {
			continue
		}
		d.idleNow.Store(wait == idle)
		awake := d.sleep(ctx, wait)
		d.idleNow.Store(false)
		if !awake {
			return
		}
	}
}

// sleep waits for wait, a Kick or new events; false when ctx ended.
func (d *Dispatcher) sleep(ctx context.Context, wait time.Duration) bool {
	var timer <-chan time.Time
	if wait != idle {
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-timer:
	case <-d.kick:
	case <-d.opts.Store.WebhookWake():
	}
	return true
}

// Step does one unit of work: form a batch if none is pending, then try the oldest batch if it is
// due. It returns how long to wait before the next step (0: go on at once; a very long duration:
// nothing to do until new events or a Kick).
func (d *Dispatcher) Step(ctx context.Context) (time.Duration, error) {
	st := d.opts.Store
	head, err := st.HeadBatch(ctx, d.delivered)
	if err != nil {
		return 0, err
	}
	now := d.opts.Now()
	if head == nil {
		formed, err := st.FormBatches(ctx, d.delivered, d.opts.MaxBatch, batchesAhead, now, newID, d.payload)
		if err != nil {
			return 0, err
		}
		d.flushed = d.delivered
		if formed == 0 {
			return idle, nil
		}
		return 0, nil
	}
	url := st.Settings().WebhookURL
	if url == "" {
		return idle, d.Flush(ctx) // held until a URL is set again
	}
	if wait := head.NextAttempt.Sub(now); wait > 0 {
		return wait, d.Flush(ctx)
	}
	if head.Attempts > 0 && now.Sub(head.CreatedAt) > d.opts.MaxAge {
		d.opts.Logger.Error("webhook batch given up after the retry window", "webhookId", head.ID,
			"events", head.Events, "attempts", head.Attempts, "lastError", head.LastError)
		d.observe("dead", head.Events, now.Sub(head.CreatedAt))
		return 0, errors.Join(d.Flush(ctx), st.BatchFailed(ctx, head.Seq, now, head.LastError, true))
	}
	if err := d.deliver(ctx, url, head, now); err != nil {
		delay := d.backoff(head.Attempts + 1)
		d.opts.Logger.Warn("webhook delivery failed", "webhookId", head.ID, "attempt", head.Attempts+1,
			"retryIn", delay.String(), "error", err.Error())
		d.observe("failed", head.Events, now.Sub(head.CreatedAt))
		if ferr := errors.Join(d.Flush(ctx),
			st.BatchFailed(ctx, head.Seq, now.Add(delay), truncate(err.Error(), 500), false)); ferr != nil {
			return 0, ferr
		}
		return delay, nil
	}
	d.observe("delivered", head.Events, d.opts.Now().Sub(head.CreatedAt))
	d.delivered = head.Seq
	return 0, nil
}

// Flush records the deliveries not yet recorded. Until then a crash makes them be delivered again
// (with the same webhook-id).
func (d *Dispatcher) Flush(ctx context.Context) error {
	if d.delivered == d.flushed {
		return nil
	}
	if err := d.opts.Store.BatchesDelivered(ctx, d.delivered); err != nil {
		return err
	}
	d.flushed = d.delivered
	return nil
}

func (d *Dispatcher) observe(outcome string, events int, age time.Duration) {
	if d.opts.Observe != nil {
		d.opts.Observe(outcome, events, age)
	}
}

// payload freezes events into the JSON body.
func (d *Dispatcher) payload(p chat.WebhookPayload) ([]byte, error) {
	p.InstanceID = d.opts.InstanceID
	if d.opts.Rewrite != nil {
		for i := range p.Messages {
			d.opts.Rewrite(&p.Messages[i])
		}
	}
	return json.Marshal(p)
}

func (d *Dispatcher) deliver(ctx context.Context, url string, b *store.Batch, now time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b.Body))
	if err != nil {
		return fmt.Errorf("building request: %w", redact.Error(err))
	}
	ts := now.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "messenger-operator-webhook/1")
	req.Header.Set("webhook-id", b.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	if d.key != nil {
		req.Header.Set("webhook-signature", Sign(d.key, b.ID, ts, b.Body))
	}
	resp, err := d.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to the webhook: %w", redact.Error(err)) // the URL's query may hold a secret
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// backoff returns the delay before attempt n+1: BaseDelay doubling per attempt up to MaxDelay,
// with "equal jitter" (between half and all of it).
func (d *Dispatcher) backoff(attempt int) time.Duration {
	delay := d.opts.MaxDelay
	if attempt < 30 {
		if exp := d.opts.BaseDelay << (attempt - 1); exp > 0 && exp < delay {
			delay = exp
		}
	}
	half := delay / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// newID returns a webhook-id: msg_ and 26 random hex digits.
func newID() string {
	var b [13]byte
	_, _ = crand.Read(b[:])
	return "msg_" + hex.EncodeToString(b[:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
