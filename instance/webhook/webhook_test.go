package webhook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/internal/testpg"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// receiver is a real HTTP webhook receiver that can be "down" or refuse some payloads ("poison"),
// and verifies signatures with the official Standard Webhooks library.
type receiver struct {
	t      *testing.T
	wh     *standardwebhooks.Webhook
	strict bool // check the timestamp too (real clock)
	mu     sync.Mutex
	down   bool
	poison func(chat.WebhookPayload) bool
	got    []chat.WebhookPayload
	ids    []string // webhook-id of every request, delivered or not
	bodies map[string]string
	badSig int
	posted chan struct{}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
	if r.bodies == nil {
		r.bodies = map[string]string{}
	}
	if prev, ok := r.bodies[id]; ok && prev != string(body) {
		r.t.Errorf("webhook-id %s came with two different bodies", id)
	}
	r.bodies[id] = string(body)
	if r.wh != nil {
		verify := r.wh.VerifyIgnoringTimestamp
		if r.strict {
			verify = r.wh.Verify
		}
		if err := verify(body, req.Header); err != nil {
			r.badSig++
		}
	}
	var p chat.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("bad webhook body: %v", err)
	}
	if r.down || (r.poison != nil && r.poison(p)) {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	r.got = append(r.got, p)
	if r.posted != nil {
		select {
		case r.posted <- struct{}{}:
		default:
		}
	}
}

// attempts counts the requests that carried webhook-id id.
func (r *receiver) attempts(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, got := range r.ids {
		if got == id {
			n++
		}
	}
	return n
}

// delivered returns the bodies of the messages delivered, in order.
func (r *receiver) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.got {
		for _, m := range p.Messages {
			out = append(out, m.Body)
		}
	}
	return out
}

func (r *receiver) setDown(down bool) { r.mu.Lock(); r.down = down; r.mu.Unlock() }

func openStores(t *testing.T) map[string]*store.Store {
	t.Helper()
	out := map[string]*store.Store{}
	for name, opts := range map[string]store.Options{
		"sqlite":   {DataDir: t.TempDir()},
		"postgres": {Database: testpg.Shared(t).NewDatabase(t)},
	} {
		s, err := store.Open(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out[name] = s
	}
	return out
}

func appendMessages(t testing.TB, s *store.Store, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		m := chat.Message{ID: fmt.Sprintf("false_17472822486@c.us_3EB0%018d", i), Type: chat.TypeChat,
			Body: strconv.Itoa(i), ChatID: "17472822486@c.us"}
		if _, _, err := s.AppendMessage(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
}

// stepUntilIdle runs Step, advancing the fake clock by every wait, until nothing is left to do.
func stepUntilIdle(t *testing.T, d *Dispatcher, clock *fakeClock) {
	t.Helper()
	for range 10_000 {
		wait, err := d.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if wait == idle {
			return
		}
		clock.Advance(wait)
	}
	t.Fatal("no progress")
}

func newDispatcher(t *testing.T, s *store.Store, opts Options) *Dispatcher {
	t.Helper()
	opts.Store = s
	opts.Client = fetch.Guard{AllowPrivate: true}.Client(5 * time.Second)
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func officialVerifier(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh
}

func TestReceiverDownForAnHourLosesNothing(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
			rcv := &receiver{t: t, wh: officialVerifier(t, secret), down: true}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			if err := s.SetWebhookURL(ctx, srv.URL+"/hook"); err != nil {
				t.Fatal(err)
			}
			clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
			d := newDispatcher(t, s, Options{InstanceID: "inst-1", Secret: secret, Now: clock.Now, MaxBatch: 10})
			start := clock.Now()
			appendMessages(t, s, 0, 25)
			steps, waits := 0, 0
			// The receiver is down for an hour while messages keep arriving.
			for clock.Now().Sub(start) < time.Hour {
				wait, err := d.Step(ctx)
				if err != nil {
					t.Fatal(err)
				}
				steps++
				if wait > 0 && wait != idle {
					waits++
					clock.Advance(wait)
					appendMessages(t, s, 1000+waits, 1)
				}
				if steps > 10_000 {
					t.Fatal("no progress")
				}
			}
			// The dispatcher probed the receiver at a bounded pace, not once per batch and step.
			attempts := len(rcv.ids)
			if attempts < 6 || attempts > 150 {
				t.Errorf("%d attempts in an hour of outage: the pace is off", attempts)
			}
			rcv.setDown(false)
			stepUntilIdle(t, d, clock)
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			if rcv.badSig != 0 {
				t.Fatalf("%d requests the official library does not verify", rcv.badSig)
			}
			seen := map[string]bool{}
			for _, p := range rcv.got {
				if p.InstanceID != "inst-1" || p.Ack == nil {
					t.Fatalf("payload = %+v", p)
				}
				if len(p.Messages) > 10 {
					t.Fatalf("batch of %d, max 10", len(p.Messages))
				}
				for _, m := range p.Messages {
					if seen[m.Body] {
						t.Fatalf("message %s delivered twice", m.Body)
					}
					seen[m.Body] = true
				}
			}
			if want := 25 + waits; len(seen) != want {
				t.Fatalf("delivered %d messages, want %d", len(seen), want)
			}
			// After the outage the batches come oldest first (the probe that succeeded aside).
			var firsts []int
			for _, p := range rcv.got[1:] {
				n, _ := strconv.Atoi(p.Messages[0].Body)
				firsts = append(firsts, n)
			}
			if !slices.IsSorted(firsts) {
				t.Errorf("batches after the outage out of order: first bodies %v", firsts)
			}
		})
	}
}

// A receiver that answers 500 to one payload forever: the payloads after it are delivered at once
// (no time passes on the clock), the poisoned one is retried on its own, growing, schedule with the
// same webhook-id, and /webhookStatus's store query shows it.
func TestPoisonedPayloadDoesNotHoldBackLaterOnes(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rcv := &receiver{t: t, poison: func(p chat.WebhookPayload) bool {
				return len(p.Messages) > 0 && p.Messages[0].Body == "0"
			}}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			_ = s.SetWebhookURL(ctx, srv.URL)
			clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
			d := newDispatcher(t, s, Options{Now: clock.Now, MaxBatch: 1, MaxAge: 25 * time.Hour})
			appendMessages(t, s, 0, 1)
			step := func() time.Duration {
				t.Helper()
				wait, err := d.Step(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return wait
			}
			for len(rcv.ids) == 0 {
				step()
			}
			poisoned := rcv.ids[0]
			for i := 1; i <= 20; i++ {
				appendMessages(t, s, i, 1)
				for wait := time.Duration(0); wait == 0; {
					wait = step()
				}
				if got := rcv.delivered(); len(got) != i || got[i-1] != strconv.Itoa(i) {
					t.Fatalf("after message %d the receiver has %v", i, got)
				}
			}
			// Its retries: same id, each wait about twice the last (with jitter), for a day.
			var gaps []time.Duration
			start, last := clock.Now(), clock.Now()
			for clock.Now().Sub(start) < 24*time.Hour {
				wait := step()
				if wait == idle {
					t.Fatal("the poisoned batch was dropped")
				}
				before := rcv.attempts(poisoned)
				clock.Advance(wait)
				for rcv.attempts(poisoned) == before {
					if step() == idle {
						t.Fatal("the poisoned batch was dropped")
					}
				}
				gaps = append(gaps, clock.Now().Sub(last))
				last = clock.Now()
			}
			if len(gaps) < 8 || len(gaps) > 100 || gaps[len(gaps)-1] < 10*time.Minute {
				t.Fatalf("retries of the poisoned batch in a day: %v", gaps)
			}
			for _, id := range rcv.ids[len(rcv.ids)-len(gaps):] {
				if id != poisoned {
					t.Fatalf("retry with webhook-id %s, want %s", id, poisoned)
				}
			}
			pending, batches, err := s.WebhookStatus(ctx, fmt.Sprintf("false_17472822486@c.us_3EB0%018d", 0))
			if err != nil || pending != 0 || len(batches) != 1 || batches[0].ID != poisoned ||
				batches[0].Attempts != len(gaps)+1 || batches[0].LastError != "webhook answered HTTP 500" ||
				!batches[0].DeliveredAt.IsZero() || !batches[0].NextAttempt.After(clock.Now()) {
				t.Fatalf("WebhookStatus = %d %+v %v", pending, batches, err)
			}
			// Past the retry window it is given up.
			clock.Advance(2 * time.Hour)
			stepUntilIdle(t, d, clock)
			if _, _, dead, _ := s.OutboxStats(ctx); dead != 1 {
				t.Fatalf("%d dead batches, want 1", dead)
			}
		})
	}
}

// Two poisoned payloads in a row look like a receiver that is down: the dispatcher then probes at
// most a minute apart, trying batches never attempted first, so later payloads still get through.
func TestTwoPoisonedPayloadsInARow(t *testing.T) {
	s := openStores(t)["sqlite"]
	ctx := context.Background()
	rcv := &receiver{t: t, poison: func(p chat.WebhookPayload) bool {
		return len(p.Messages) > 0 && (p.Messages[0].Body == "0" || p.Messages[0].Body == "1")
	}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	_ = s.SetWebhookURL(ctx, srv.URL)
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	d := newDispatcher(t, s, Options{Now: clock.Now, MaxBatch: 1})
	appendMessages(t, s, 0, 2)
	for i := 2; i < 40; i++ {
		appendMessages(t, s, i, 1)
		sent := clock.Now()
		for len(rcv.delivered()) < i-1 {
			wait, err := d.Step(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if wait == idle {
				t.Fatalf("message %d not delivered", i)
			}
			clock.Advance(wait)
		}
		if took := clock.Now().Sub(sent); took > time.Minute+time.Second {
			t.Fatalf("message %d took %s", i, took)
		}
		clock.Advance(time.Minute)
	}
	if rcv.attempts(rcv.ids[0]) < 5 {
		t.Fatalf("the first poisoned batch was tried %d times", rcv.attempts(rcv.ids[0]))
	}
}

func TestGivesUpAfterTheRetryWindow(t *testing.T) {
	s := openStores(t)["sqlite"]
	ctx := context.Background()
	rcv := &receiver{t: t, down: true}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	_ = s.SetWebhookURL(ctx, srv.URL)
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	var dead int
	d := newDispatcher(t, s, Options{Now: clock.Now, MaxAge: 25 * time.Hour,
		Observe: func(o string, _ int, _ time.Duration) {
			if o == "dead" {
				dead++
			}
		}})
	appendMessages(t, s, 0, 3)
	start := clock.Now()
	stepUntilIdle(t, d, clock)
	if dead != 1 {
		t.Fatalf("dead batches %d, want 1", dead)
	}
	if elapsed := clock.Now().Sub(start); elapsed < 24*time.Hour {
		t.Fatalf("gave up after %s, want at least 24h", elapsed)
	}
	_, batches, deadRows, _ := s.OutboxStats(ctx)
	if batches != 0 || deadRows != 1 {
		t.Fatalf("outbox: %d live %d dead", batches, deadRows)
	}
}

// Run against a real receiver that refuses one payload forever, signed with each kind of secret
// and verified by the official Standard Webhooks library: later payloads keep arriving, the
// poisoned one keeps being retried with its webhook-id.
func TestRunWithAPoisonedReceiver(t *testing.T) {
	for _, secret := range []string{
		"whsec_" + base64.StdEncoding.EncodeToString([]byte("a key of thirty-two bytes, exact")),
		"c2VjcmV0LWtleS1mb3ItdGVzdHM=", // raw, but base64: the libraries decode it, so do we
		"plain raw secret",             // not base64: raw bytes on both sides
	} {
		t.Run(secret, func(t *testing.T) {
			s, err := store.Open(context.Background(), store.Options{Database: testpg.Shared(t).NewDatabase(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			wh, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				wh, _ = standardwebhooks.NewWebhookRaw([]byte(secret))
			}
			poison := "poison " + secret
			rcv := &receiver{t: t, wh: wh, strict: true, posted: make(chan struct{}, 1),
				poison: func(p chat.WebhookPayload) bool {
					return slices.ContainsFunc(p.Messages, func(m chat.Message) bool { return m.Body == poison })
				}}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			_ = s.SetWebhookURL(ctx, srv.URL)
			d := newDispatcher(t, s, Options{Secret: secret, BaseDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond,
				MaxProbeDelay: 200 * time.Millisecond})
			ran := make(chan struct{})
			go func() { d.Run(ctx); close(ran) }()
			defer func() { cancel(); <-ran }()
			before := len(rcv.delivered())
			m := chat.Message{ID: "false_17472822486@c.us_3EB0POISON" + strconv.Itoa(len(secret)), Type: chat.TypeChat, Body: poison}
			if _, _, err := s.AppendMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the poisoned payload to be tried", func() bool { rcv.mu.Lock(); defer rcv.mu.Unlock(); return len(rcv.ids) > 0 })
			for i := range 10 {
				appendMessages(t, s, 5000+100*len(secret)+i, 1)
				eventually(t, "a later payload", func() bool { return len(rcv.delivered()) == before+i+1 })
			}
			eventually(t, "four retries of the poisoned payload", func() bool {
				_, batches, _ := s.WebhookStatus(ctx, m.ID)
				return len(batches) == 1 && batches[0].Attempts >= 4 && rcv.attempts(batches[0].ID) >= 4
			})
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			if rcv.badSig != 0 {
				t.Fatalf("%d deliveries the official library does not verify", rcv.badSig)
			}
		})
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestRunDeliversPromptlyAndRefusesPrivateByDefault(t *testing.T) {
	s := openStores(t)["sqlite"]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rcv := &receiver{t: t, posted: make(chan struct{}, 1)}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	_ = s.SetWebhookURL(ctx, srv.URL)
	d := newDispatcher(t, s, Options{})
	ran := make(chan struct{})
	go func() { d.Run(ctx); close(ran) }()
	appendMessages(t, s, 0, 1)
	select {
	case <-rcv.posted:
	case <-time.After(30 * time.Second):
		t.Fatal("webhook not delivered")
	}
	// The default guard refuses the loopback receiver: the batch stays queued.
	guarded, _ := New(Options{Store: s, Client: fetch.Guard{}.Client(5 * time.Second)})
	// The receiver has the body; wait until Run has seen the answer and gone idle (it then has
	// recorded the delivery, or records it as it stops).
	eventually(t, "the dispatcher to go idle", func() bool {
		ev, _, _, _ := s.OutboxStats(context.Background())
		return ev == 0 && d.idleNow.Load()
	})
	cancel()
	<-ran
	if _, batches, _, _ := s.OutboxStats(context.Background()); batches != 0 {
		t.Fatalf("%d batches left after Run stopped, want 0", batches)
	}
	_, first, _ := s.WebhookStatus(context.Background(), fmt.Sprintf("false_17472822486@c.us_3EB0%018d", 0))
	if len(first) != 1 || first[0].DeliveredAt.IsZero() || first[0].Attempts != 0 {
		t.Fatalf("status of the delivered message = %+v", first)
	}
	appendMessages(t, s, 10, 1)
	for range 3 {
		if _, err := guarded.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	_, refused, _ := s.WebhookStatus(context.Background(), fmt.Sprintf("false_17472822486@c.us_3EB0%018d", 10))
	if len(refused) != 1 || refused[0].Attempts != 1 || refused[0].LastError == "" || !refused[0].DeliveredAt.IsZero() {
		t.Fatalf("batch after refused delivery = %+v", refused)
	}
}

func TestParseSecretAndSign(t *testing.T) {
	// Known answer from the Standard Webhooks specification's example.
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("Sign = %s", got)
	}
	for secret, want := range map[string]string{
		"plain":                        "plain",       // not base64 (length)
		"not base64!":                  "not base64!", // not the alphabet
		"c2VjcmV0LWtleS1mb3ItdGVzdHM=": "secret-key-for-tests",
		"0123456789abcdef":             string(mustDecode(t, "0123456789abcdef")), // hex is base64 too
		"abc\ndefg":                    "abc\ndefg",                               // Go would skip the line break, JavaScript would not
	} {
		if raw, err := ParseSecret(secret); err != nil || string(raw) != want {
			t.Errorf("ParseSecret(%q) = %q %v, want %q", secret, raw, err, want)
		}
	}
	for _, bad := range []string{"whsec_", "whsec_!!!", "whsec_abc", "whsec_YWJj\nZGVm"} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
	// Whatever the official Go library accepts, it decodes as we do.
	for _, secret := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"c2VjcmV0LWtleS1mb3ItdGVzdHM=", "0123456789abcdef", "YWJjZA=="} {
		key, err := ParseSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		wh := officialVerifier(t, secret)
		ts := time.Now()
		sig, _ := wh.Sign("msg_1", ts, []byte("{}"))
		if mine := Sign(key, "msg_1", ts.Unix(), []byte("{}")); mine != sig {
			t.Errorf("secret %q: we sign %s, the official library %s", secret, mine, sig)
		}
	}
	d := &Dispatcher{opts: Options{BaseDelay: time.Second, MaxDelay: time.Minute}}
	for n := 1; n < 100; n++ {
		b := d.backoff(n)
		if b < 500*time.Millisecond || b > time.Minute {
			t.Fatalf("backoff(%d) = %s", n, b)
		}
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
