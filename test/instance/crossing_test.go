package instance_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/chaos/rig"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/internal/testbin"
)

// crossingPhones is how many fresh phones exchange first messages with the account at once;
// crossingEach is how many texts each side sends each way (the first crossing, then a burst).
const (
	crossingPhones = 12
	crossingEach   = 4
)

// phoneWait bounds the wait for texts to arrive; pollEvery is how often they are looked for.
const (
	phoneWait = 2 * time.Minute
	pollEvery = 200 * time.Millisecond
)

// webhookInbox counts the bodies of incoming messages posted to a webhook receiver.
type webhookInbox struct {
	mu     sync.Mutex
	bodies map[string]int
	order  map[string][]string // chatId → bodies in the order posted
}

func (w *webhookInbox) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var p chat.WebhookPayload
	_ = json.Unmarshal(raw, &p)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range p.Messages {
		if !m.FromMe {
			w.bodies[m.Body]++
			w.order[m.ChatID] = append(w.order[m.ChatID], m.Body)
		}
	}
	rw.WriteHeader(http.StatusOK)
}

func (w *webhookInbox) count(body string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.bodies[body]
}

// startCrossingRig starts a sandbox process, the account 15550001111 with an instance paired to
// it posting to a webhook receiver, and phones fresh phones that never talked to the account.
func startCrossingRig(t *testing.T, phones int, extra ...string) (*rig.Sandbox, *rig.Instance, *webhookInbox, []string) {
	t.Helper()
	ctx := context.Background()
	inbox := &webhookInbox{bodies: map[string]int{}, order: map[string][]string{}}
	rcv := httptest.NewServer(inbox)
	t.Cleanup(rcv.Close)
	bin, dir := testbin.Path(t), t.TempDir()
	sb, err := rig.StartSandbox(ctx, bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Stop)
	if err := sb.AddPhone(ctx, "15550001111"); err != nil {
		t.Fatal(err)
	}
	var peers []string
	for i := range phones {
		p := fmt.Sprintf("155500030%02d", i)
		if err := sb.AddPhone(ctx, p); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	args := append([]string{"--webhook-url", rcv.URL, "--allow-private-addresses"}, extra...)
	inst, err := rig.StartInstance(ctx, bin, dir+"/instance", sb.URL, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inst.Stop)
	if err := inst.Pair(ctx, sb, "15550001111"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("instance log: %s\nsandbox log: %s", rig.Tail(inst.Log(), 4000), rig.Tail(sb.Log(), 4000))
		}
	})
	return sb, inst, inbox, peers
}

// The account and many fresh phones send each other their first messages at the same moment
// (neither side has a Signal session, so both start one from the other's prekey bundle and both
// send a pkmsg), then a burst more each way: every text arrives exactly once on each side — on
// the phone's list, in the instance's journal and in the webhook posts. (Not necessarily in
// order: a message that could not be decrypted comes back through a retry receipt, after the
// ones sent behind it, as on WhatsApp.)
func TestCrossingFirstMessages(t *testing.T) {
	sb, inst, inbox, peers := startCrossingRig(t, crossingPhones)
	ctx := context.Background()
	out := func(p string, i int) string { return fmt.Sprintf("cross %s out %d", p, i) }
	in := func(p string, i int) string { return fmt.Sprintf("cross %s in %d", p, i) }
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	for _, p := range peers {
		wg.Go(func() { // the account's texts to p, in order
			<-start
			for i := range crossingEach {
				if code, _, err := inst.SendText(ctx, p, out(p, i)); code != 200 {
					fail("sending %q: %d %v", out(p, i), code, err)
				}
			}
		})
		wg.Go(func() { // p's texts to the account, in order
			<-start
			for i := range crossingEach {
				if err := sb.Send(ctx, p, "15550001111", in(p, i)); err != nil {
					fail("the phone sending %q: %v", in(p, i), err)
				}
			}
		})
	}
	close(start) // the barrier: every first message leaves at once
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("sends failed: %v", failures)
	}
	for _, p := range peers {
		checkPhone(t, sb, p, func(i int) string { return out(p, i) }, crossingEach, checkOnce)
	}
	checkJournal(t, inst, peers, in, crossingEach, checkOnce)
	checkWebhook(t, inbox, peers, in, crossingEach, checkOnce)
	t.Logf("decryption failures: %d on the phones, %d on the instance",
		strings.Count(readLog(sb.Log()), "phone could not decrypt"), strings.Count(readLog(inst.Log()), "Error decrypting message"))
}

// readLog reads a process's log file ("" when it cannot).
func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// checkPhone waits until phone lists want(0..n-1) from the account and checks them (check).
func checkPhone(t *testing.T, sb *rig.Sandbox, phone string, want func(int) string, n int, check checker) {
	t.Helper()
	ctx := context.Background()
	prefix := strings.TrimRight(want(0), "0123456789")
	var got []string
	ok := rig.Until(ctx, "texts on the phone", phoneWait, pollEvery, func() bool {
		msgs, err := sb.Messages(ctx, phone)
		if err != nil {
			return false
		}
		got = got[:0]
		for _, m := range msgs {
			if !m.FromMe && strings.HasPrefix(m.Body, prefix) {
				got = append(got, m.Body)
			}
		}
		return len(got) >= n
	})
	if ok != nil {
		t.Errorf("phone %s lists %d of %d texts from the account: %q", phone, len(got), n, got)
		return
	}
	check(t, "phone "+phone, got, want, n)
}

// checkJournal waits until GET /messages holds in(p, 0..n-1) from every peer and checks each
// peer's texts (check).
func checkJournal(t *testing.T, inst *rig.Instance, peers []string, in func(string, int) string, n int, check checker) {
	t.Helper()
	ctx := context.Background()
	byPeer := map[string][]string{}
	err := rig.Until(ctx, "texts in the journal", phoneWait, pollEvery, func() bool {
		msgs, err := inst.Messages(ctx)
		if err != nil {
			return false
		}
		byPeer = map[string][]string{}
		total := 0
		for _, m := range msgs {
			for _, p := range peers {
				if !m.FromMe && strings.HasPrefix(m.Body, strings.TrimRight(in(p, 0), "0123456789")) {
					byPeer[p] = append(byPeer[p], m.Body)
					total++
				}
			}
		}
		return total >= n*len(peers)
	})
	for _, p := range peers {
		if err != nil && len(byPeer[p]) < n {
			t.Errorf("the journal holds %d of %d texts from %s: %q", len(byPeer[p]), n, p, byPeer[p])
			continue
		}
		check(t, "journal, from "+p, byPeer[p], func(i int) string { return in(p, i) }, n)
	}
}

// checkWebhook waits until the webhook received in(p, 0..n-1) from every peer and checks each
// peer's texts, in the order posted (check).
func checkWebhook(t *testing.T, inbox *webhookInbox, peers []string, in func(string, int) string, n int, check checker) {
	t.Helper()
	err := waitPosted(inbox, peers, in, n)
	inbox.mu.Lock()
	defer inbox.mu.Unlock()
	for _, p := range peers {
		var got []string
		for _, bodies := range inbox.order {
			for _, b := range bodies {
				if strings.HasPrefix(b, strings.TrimRight(in(p, 0), "0123456789")) {
					got = append(got, b)
				}
			}
		}
		if err != nil && len(got) < n {
			t.Errorf("the webhook got %d of %d texts from %s: %q", len(got), n, p, got)
			continue
		}
		check(t, "webhook, from "+p, got, func(i int) string { return in(p, i) }, n)
	}
}

// checker checks the texts got somewhere against want(0..n-1).
type checker func(t *testing.T, where string, got []string, want func(int) string, n int)

// checkOnce checks that got holds want(0..n-1), each once, in any order.
func checkOnce(t *testing.T, where string, got []string, want func(int) string, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, b := range got {
		seen[b]++
	}
	for i := range n {
		if seen[want(i)] != 1 {
			t.Errorf("%s: %q is there %d times, want once: %q", where, want(i), seen[want(i)], got)
		}
	}
	if len(got) != n {
		t.Errorf("%s: %d texts, want %d: %q", where, len(got), n, got)
	}
}

// checkSequence checks that got is want(0..n-1), each once, in order.
func checkSequence(t *testing.T, where string, got []string, want func(int) string, n int) {
	t.Helper()
	if len(got) != n {
		t.Errorf("%s: %d texts, want %d once each: %q", where, len(got), n, got)
		return
	}
	for i, b := range got {
		if b != want(i) {
			t.Errorf("%s: text %d is %q, want %q (each once, in the sender's order): %q", where, i, b, want(i), got)
			return
		}
	}
}

// orderPhones phones each send orderEach texts to the account, concurrently, in bursts.
const (
	orderPhones = 4
	orderEach   = 200
)

// Several phones send the account a few hundred texts each at once, and the instance (with
// whatsmeow's decrypted-event buffer) is killed with SIGKILL and started again in the middle:
// the journal holds every text once and each sender's texts in the order sent, and the webhook
// got each sender's texts in that order too (a post repeated after the kill may come twice).
func TestInboundOrderUnderLoadAcrossKill9(t *testing.T) {
	sb, inst, inbox, peers := startCrossingRig(t, orderPhones)
	ctx := context.Background()
	in := func(p string, i int) string { return fmt.Sprintf("order %s %03d", p, i) }
	var wg sync.WaitGroup
	killAt := make(chan struct{})
	var once sync.Once
	errs := make(chan error, len(peers))
	for k, p := range peers {
		wg.Go(func() {
			for i := range orderEach {
				if k == 0 && i == orderEach/2 {
					once.Do(func() { close(killAt) })
				}
				if err := sb.Send(ctx, p, "15550001111", in(p, i)); err != nil {
					errs <- fmt.Errorf("the phone sending %q: %w", in(p, i), err)
					return
				}
			}
		})
	}
	<-killAt
	inst.Kill9()
	if err := inst.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkJournal(t, inst, peers, in, orderEach, checkSequence)
	checkWebhookFirstInOrder(t, inbox, peers, in, orderEach)
}

// checkWebhookFirstInOrder waits until the webhook received in(p, 0..n-1) from every peer and
// checks that the first posts of each peer's texts came in the peer's order; repeats (a post
// whose answer the killed instance never recorded) are counted and logged.
func checkWebhookFirstInOrder(t *testing.T, inbox *webhookInbox, peers []string, in func(string, int) string, n int) {
	t.Helper()
	err := waitPosted(inbox, peers, in, n)
	if err != nil {
		t.Error(err)
	}
	inbox.mu.Lock()
	defer inbox.mu.Unlock()
	repeats := 0
	for _, p := range peers {
		prefix := strings.TrimRight(in(p, 0), "0123456789")
		var first []string
		seen := map[string]bool{}
		for _, bodies := range inbox.order {
			for _, b := range bodies {
				if !strings.HasPrefix(b, prefix) {
					continue
				}
				if seen[b] {
					repeats++
					continue
				}
				seen[b] = true
				first = append(first, b)
			}
		}
		checkSequence(t, "webhook (first posts), from "+p, first, func(i int) string { return in(p, i) }, n)
	}
	t.Logf("webhook: %d repeated posts of a text", repeats)
}

// waitPosted waits until the webhook received in(p, 0..n-1) from every peer.
func waitPosted(inbox *webhookInbox, peers []string, in func(string, int) string, n int) error {
	return rig.Until(context.Background(), "texts posted to the webhook", phoneWait, pollEvery, func() bool {
		for _, p := range peers {
			for i := range n {
				if inbox.count(in(p, i)) == 0 {
					return false
				}
			}
		}
		return true
	})
}
