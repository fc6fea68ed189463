// Package webhook delivers the store's webhook outbox: it groups pending events into batches whose
// body and webhook-id are frozen, POSTs them one at a time, oldest first, signs them per the Standard
// Webhooks scheme when a secret is set, and retries each batch on its own schedule (exponential
// backoff with jitter) until it is delivered or older than the retry window (at least 24 h). A batch
// that keeps failing does not hold back the ones after it; while every receiver answer is an
// error (the receiver is down) the dispatcher probes at a slower pace instead of trying every batch.
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
	DefaultMaxBatch      = 100
	DefaultBaseDelay     = 5 * time.Second
	DefaultMaxDelay      = 30 * time.Minute
	DefaultMaxAge        = 72 * time.Hour
	DefaultMaxProbeDelay = time.Minute
	DefaultKeepDelivered = 24 * time.Hour
)

// Options configure a Dispatcher.
type Options struct {
	Store *store.Store
	// Client posts the batches; use fetch.Guard.Client so webhooks get the same SSRF guard.
	Client *http.Client
	// InstanceID fills the payload's instanceId.
	InstanceID string
	// Secret is the Standard Webhooks signing key (see ParseSecret); empty sends unsigned.
	Secret string
	// Now is the clock (time.Now if nil); tests inject a fake one.
	Now func() time.Time
	// Rewrite, if set, adjusts each message before it is frozen into a batch (e.g. media links).
	Rewrite func(*chat.Message)
	// MaxBatch caps events per batch; BaseDelay and MaxDelay shape each batch's backoff; MaxAge is
	// how long a batch is retried before it is given up. MaxProbeDelay caps the wait between
	// attempts while the receiver fails everything. KeepDelivered is how long delivered batches stay
	// listed in WebhookStatus. Zero values take the defaults.
	MaxBatch      int
	BaseDelay     time.Duration
	MaxDelay      time.Duration
	MaxAge        time.Duration
	MaxProbeDelay time.Duration
	KeepDelivered time.Duration
	Logger        *slog.Logger
	// Observe, if set, is told the outcome of each attempt ("delivered", "failed", "dead").
	Observe func(outcome string, events int, age time.Duration)
}

// batchesAhead is how many batches are formed per transaction, and how many deliveries may wait to
// be recorded.
const batchesAhead = 8

// pruneEvery is how often delivered batches older than KeepDelivered are forgotten.
const pruneEvery = time.Minute

// Dispatcher delivers the outbox. Step does one unit of work; Run loops over it. It is not safe for
// concurrent use (one Run or one caller of Step): one delivery is in flight at a time.
type Dispatcher struct {
	opts Options
	key  []byte
	kick chan struct{}
	// unrecorded are deliveries not yet written to the store (skipped when picking a batch).
	unrecorded []store.Delivery
	skip       map[int64]bool
	lastPrune  time.Time
	// health is what the recent attempts say about the receiver.
	health health
	// idleNow is true while Run waits with nothing to do (for tests and diagnostics).
	idleNow atomic.Bool
}

// health tracks whether the receiver fails everything ("down") or only some batches.
type health struct {
	// lastFailed is the seq of the batch whose attempt failed last, since the last success.
	lastFailed int64
	// down: two different batches failed in a row. Attempts are then paced by probeAt, and prefer
	// batches never attempted (the best test of the receiver).
	down    bool
	probes  int
	probeAt time.Time
	// failedWhileDown are the batches that failed while down: due again once the receiver is back.
	failedWhileDown []int64
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
	if opts.MaxProbeDelay <= 0 {
		opts.MaxProbeDelay = DefaultMaxProbeDelay
	}
	if opts.KeepDelivered <= 0 {
		opts.KeepDelivered = DefaultKeepDelivered
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{opts: opts, key: key, kick: make(chan struct{}, 1), skip: map[int64]bool{}}, nil
}

// ParseSecret decodes a signing key the way the official Standard Webhooks libraries do, so that a
// receiver can give them the same string: "whsec_" followed by standard padded base64 is that
// base64 decoded; a secret without the prefix that is standard padded base64 is decoded likewise;
// anything else is used as raw bytes (receivers then pass it as raw bytes, e.g. NewWebhookRaw in Go
// or {format: "raw"} in JavaScript).
func ParseSecret(secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		key, ok := decodeBase64(rest)
		if !ok {
			return nil, errors.New("webhook secret: whsec_ must be followed by standard base64 (with = padding)")
		}
		if len(key) == 0 {
			return nil, errors.New("webhook secret: empty key after whsec_")
		}
		return key, nil
	}
	if key, ok := decodeBase64(secret); ok && len(key) > 0 {
		return key, nil
	}
	return []byte(secret), nil
}

// decodeBase64 decodes standard padded base64 that both official libraries read the same way:
// only the base64 alphabet (no line breaks, which Go's decoder would skip), whole quanta.
func decodeBase64(s string) ([]byte, bool) {
	if len(s)%4 != 0 || strings.ContainsAny(s, "\r\n") {
		return nil, false
	}
	key, err := base64.StdEncoding.DecodeString(s)
	return key, err == nil
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

// Step does one unit of work: form batches if none waits for its first attempt, then attempt the
// batch that is due (the oldest; while the receiver seems down, at the probe pace, the oldest never
// attempted first). It returns how long to wait before the next step (0: go on at once; a very long
// duration: nothing to do until new events or a Kick).
func (d *Dispatcher) Step(ctx context.Context) (time.Duration, error) {
	st := d.opts.Store
	url := st.Settings().WebhookURL
	if url == "" {
		return idle, d.Flush(ctx) // held until a URL is set again
	}
	now := d.opts.Now()
	out, err := st.NextBatch(ctx, now, d.health.down, d.skip)
	if err != nil {
		return 0, err
	}
	if !out.Fresh {
		formed, err := d.form(ctx, now)
		if err != nil {
			return 0, err
		}
		if formed > 0 {
			return 0, nil
		}
	}
	b := out.Due
	if b == nil {
		if out.NextAt.IsZero() {
			return idle, d.Flush(ctx)
		}
		return max(out.NextAt.Sub(now), d.probeWait(now)), d.Flush(ctx)
	}
	if wait := d.probeWait(now); wait > 0 {
		return wait, d.Flush(ctx)
	}
	if b.Attempts > 0 && now.Sub(b.CreatedAt) > d.opts.MaxAge {
		d.opts.Logger.Error("webhook batch given up after the retry window", "webhookId", b.ID,
			"events", b.Events, "attempts", b.Attempts, "lastError", b.LastError)
		d.observe("dead", b.Events, now.Sub(b.CreatedAt))
		return 0, st.BatchFailed(ctx, b.Seq, now, now, b.LastError, true)
	}
	if err := d.deliver(ctx, url, b, now); err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, d.failed(ctx, b, now, err)
	}
	return 0, d.delivered(ctx, b)
}

// form records the deliveries made so far and forms new batches.
func (d *Dispatcher) form(ctx context.Context, now time.Time) (int, error) {
	f := store.Formation{Delivered: d.unrecorded, MaxEvents: d.opts.MaxBatch, MaxBatches: batchesAhead, Now: now,
		NewID: newID, Payload: d.payload}
	if now.Sub(d.lastPrune) >= pruneEvery {
		f.PruneBefore = now.Add(-d.opts.KeepDelivered)
	}
	formed, err := d.opts.Store.FormBatches(ctx, f)
	if err != nil {
		return 0, err
	}
	if !f.PruneBefore.IsZero() {
		d.lastPrune = now
	}
	d.forgetUnrecorded()
	return formed, nil
}

// probeWait is how long the pace of probes of a receiver that seems down asks to wait.
func (d *Dispatcher) probeWait(now time.Time) time.Duration {
	if !d.health.down {
		return 0
	}
	return max(d.health.probeAt.Sub(now), 0)
}

// failed records a failed attempt: the batch goes on its own backoff, and the receiver counts as
// down once two different batches failed in a row.
func (d *Dispatcher) failed(ctx context.Context, b *store.Batch, now time.Time, err error) error {
	delay := d.backoff(b.Attempts + 1)
	d.opts.Logger.Warn("webhook delivery failed", "webhookId", b.ID, "attempt", b.Attempts+1,
		"retryIn", delay.String(), "error", err.Error())
	d.observe("failed", b.Events, now.Sub(b.CreatedAt))
	h := &d.health
	switch {
	case h.down:
		h.failedWhileDown = append(h.failedWhileDown, b.Seq)
		h.probes++
	case h.lastFailed != 0 && h.lastFailed != b.Seq:
		h.down, h.probes = true, 0
		d.opts.Logger.Warn("webhook receiver fails every batch; probing it", "error", err.Error())
	}
	h.lastFailed = b.Seq
	if h.down {
		h.probeAt = now.Add(min(d.backoff(h.probes+1), d.opts.MaxProbeDelay))
	}
	return errors.Join(d.Flush(ctx), d.opts.Store.BatchFailed(ctx, b.Seq, now, now.Add(delay),
		truncate(err.Error(), 500), false))
}

// delivered notes a delivery (recorded lazily); a receiver that was down is back, so the batches
// that failed meanwhile are due again, oldest first.
func (d *Dispatcher) delivered(ctx context.Context, b *store.Batch) error {
	now := d.opts.Now()
	d.observe("delivered", b.Events, now.Sub(b.CreatedAt))
	d.unrecorded = append(d.unrecorded, store.Delivery{Seq: b.Seq, At: now})
	d.skip[b.Seq] = true
	h := d.health
	d.health = health{}
	if h.down {
		d.opts.Logger.Info("webhook receiver is back", "webhookId", b.ID)
		if err := d.opts.Store.RetryNow(ctx, h.failedWhileDown, now); err != nil {
			return err
		}
	}
	if len(d.unrecorded) >= batchesAhead {
		return d.Flush(ctx)
	}
	return nil
}

// Flush records the deliveries not yet recorded. Until then a crash makes them be delivered again
// (with the same webhook-id).
func (d *Dispatcher) Flush(ctx context.Context) error {
	if len(d.unrecorded) == 0 {
		return nil
	}
	if err := d.opts.Store.BatchesDelivered(ctx, d.unrecorded); err != nil {
		return err
	}
	d.forgetUnrecorded()
	return nil
}

func (d *Dispatcher) forgetUnrecorded() {
	d.unrecorded = d.unrecorded[:0]
	clear(d.skip)
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
