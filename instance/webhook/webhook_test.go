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
	"strconv"
	"sync"
	"testing"
	"time"

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

// receiver is a real HTTP webhook receiver that can be "down" and verifies signatures.
type receiver struct {
	t      *testing.T
	key    []byte
	mu     sync.Mutex
	down   bool
	got    []chat.WebhookPayload
	ids    []string // webhook-id of every request, delivered or not
	badSig int
	posted chan struct{}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id, ts := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
	if r.key != nil {
		sec, _ := strconv.ParseInt(ts, 10, 64)
		if req.Header.Get("webhook-signature") != Sign(r.key, id, sec, body) {
			r.badSig++
		}
	}
	if r.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var p chat.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("bad webhook body: %v", err)
	}
	r.got = append(r.got, p)
	if r.posted != nil {
		select {
		case r.posted <- struct{}{}:
		default:
		}
	}
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

func TestReceiverDownForAnHourLosesNothing(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
			key, _ := ParseSecret(secret)
			rcv := &receiver{t: t, key: key, down: true}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			if err := s.SetWebhookURL(ctx, srv.URL+"/hook"); err != nil {
				t.Fatal(err)
			}
			clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
			d, err := New(Options{Store: s, Client: fetch.Guard{AllowPrivate: true}.Client(5 * time.Second),
				InstanceID: "inst-1", Secret: secret, Now: clock.Now, MaxBatch: 10})
			if err != nil {
				t.Fatal(err)
			}
			start := clock.Now()
			appendMessages(t, s, 0, 25)
			steps, failures := 0, 0
			// The receiver is down for an hour while messages keep arriving.
			for clock.Now().Sub(start) < time.Hour {
				wait, err := d.Step(ctx)
				if err != nil {
					t.Fatal(err)
				}
				steps++
				if wait > 0 && wait != idle {
					failures++
					clock.Advance(wait)
					appendMessages(t, s, 1000+failures, 1)
				}
				if steps > 10_000 {
					t.Fatal("no progress")
				}
			}
			rcv.setDown(false)
			for {
				wait, err := d.Step(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if wait == idle {
					break
				}
				clock.Advance(wait)
			}
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			// Backoff: an hour of outage took a bounded number of attempts, and more than a few.
			if failures < 6 || failures > 40 {
				t.Errorf("%d failed attempts in an hour: backoff is off", failures)
			}
			// The first batch kept its webhook-id through every retry.
			for _, id := range rcv.ids[:failures] {
				if id != rcv.ids[0] {
					t.Fatalf("webhook-id changed across retries: %s then %s", rcv.ids[0], id)
				}
			}
			if rcv.badSig != 0 {
				t.Fatalf("%d requests with a bad signature", rcv.badSig)
			}
			var bodies []string
			seen := map[string]bool{}
			for _, p := range rcv.got {
				if p.InstanceID != "inst-1" || p.Ack == nil {
					t.Fatalf("payload = %+v", p)
				}
				if len(p.Messages) > 10 {
					t.Fatalf("batch of %d, max 10", len(p.Messages))
				}
				for _, m := range p.Messages {
					if seen[m.ID] {
						t.Fatalf("message %s delivered twice", m.ID)
					}
					seen[m.ID] = true
					bodies = append(bodies, m.Body)
				}
			}
			want := 25 + failures
			if len(bodies) != want {
				t.Fatalf("delivered %d messages, want %d", len(bodies), want)
			}
			for i := range 25 {
				if bodies[i] != strconv.Itoa(i) {
					t.Fatalf("out of order: position %d has %s", i, bodies[i])
				}
			}
		})
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
	d, err := New(Options{Store: s, Client: fetch.Guard{AllowPrivate: true}.Client(5 * time.Second), Now: clock.Now,
		MaxAge: 25 * time.Hour, Observe: func(o string, _ int, _ time.Duration) {
			if o == "dead" {
				dead++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	appendMessages(t, s, 0, 3)
	start := clock.Now()
	for range 1000 {
		wait, err := d.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if wait == idle {
			break
		}
		clock.Advance(wait)
	}
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

func TestRunDeliversPromptlyAndRefusesPrivateByDefault(t *testing.T) {
	s := openStores(t)["sqlite"]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rcv := &receiver{t: t, posted: make(chan struct{}, 1)}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	_ = s.SetWebhookURL(ctx, srv.URL)
	d, err := New(Options{Store: s, Client: fetch.Guard{AllowPrivate: true}.Client(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
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
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ev, _, _, _ := s.OutboxStats(context.Background()); ev == 0 && d.idleNow.Load() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dispatcher did not go idle")
		}
	}
	cancel()
	<-ran
	appendMessages(t, s, 10, 1)
	if _, batches, _, _ := s.OutboxStats(context.Background()); batches != 0 {
		t.Fatalf("%d batches left after Run stopped, want 0", batches)
	}
	for range 3 {
		if _, err := guarded.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := s.HeadBatch(context.Background(), 0)
	if head == nil || head.Attempts != 1 || head.LastError == "" {
		t.Fatalf("head after refused delivery = %+v", head)
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
	if raw, _ := ParseSecret("plain"); string(raw) != "plain" {
		t.Fatal("raw secret not used as is")
	}
	for _, bad := range []string{"whsec_", "whsec_!!!"} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
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
