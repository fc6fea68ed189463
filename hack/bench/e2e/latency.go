package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/messenger-operator/messenger-operator/hack/bench/benchutil"
	"github.com/messenger-operator/messenger-operator/instance/chat"
)

// latencyFigure measures, at each offered load of cfg.rates (messages per second, sent on a fixed
// schedule whatever the answers: an open loop), the time from a message's POST /sendMessage to
// the server's ack of it as the instance reports it (its "sent" ack webhook, which the instance
// posts once the ack is recorded), beside the baseline client's SendMessage at the same load
// (from its scheduled start to its return, which is the server's ack).
func latencyFigure(ctx context.Context, r rig) error {
	recv, err := startAckReceiver()
	if err != nil {
		return err
	}
	defer recv.close()
	if err := callJSON(ctx, "POST", r.inst.base+"/webhook", token, map[string]string{"webhookUrl": recv.url}, nil); err != nil {
		return fmt.Errorf("setting the webhook: %w", err)
	}
	if err := callJSON(ctx, "POST", r.inst.base+"/settings/ackNotificationsOn", token, map[string]any{"ackNotificationsOn": 1}, nil); err != nil {
		return fmt.Errorf("turning ack notifications on: %w", err)
	}
	defer func() { // the other figures run without a webhook
		_ = callJSON(context.WithoutCancel(ctx), "POST", r.inst.base+"/webhook", token, map[string]string{"webhookUrl": ""}, nil)
	}()
	phone := "15559100000"
	if err := r.sb.api.addPhone(ctx, phone, "Latency receiver"); err != nil {
		return err
	}
	if err := r.warmUp(ctx, phone, 0); err != nil {
		return fmt.Errorf("latency warm-up: %w", err)
	}
	fmt.Printf("\n## Latency POST /sendMessage → server ack (instance: its \"sent\" ack webhook; baseline: SendMessage returning), load %s\n",
		benchutil.LoadAvg())
	fmt.Printf("| offered load | messages | instance p50 | instance p99 | baseline p50 | baseline p99 | p50 ratio | p99 ratio |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, rate := range r.cfg.rates {
		n := max(20, int(rate*r.cfg.latencyFor.Seconds()))
		inst, late, err := r.instanceLatencies(ctx, recv, phone, rate, n)
		if err != nil {
			return fmt.Errorf("instance at %v/s: %w", rate, err)
		}
		if late > 0 { // the offered load is above what the instance delivers on this machine now
			fmt.Printf("(instance at %v msg/s: %d of %d acks not within %v, counted as %v)\n", rate, late, n, ackTimeout, ackTimeout)
		}
		base, err := r.baselineLatencies(ctx, phone, rate, n)
		if err != nil {
			return fmt.Errorf("baseline at %v/s: %w", rate, err)
		}
		ip50, ip99, bp50, bp99 := quantile(inst, 0.5), quantile(inst, 0.99), quantile(base, 0.5), quantile(base, 0.99)
		fmt.Printf("| %v msg/s | %d | %s | %s | %s | %s | %.2f | %.2f |\n", rate, n, ms(ip50), ms(ip99), ms(bp50), ms(bp99),
			ip50.Seconds()/bp50.Seconds(), ip99.Seconds()/bp99.Seconds())
	}
	return nil
}

// ackTimeout is how long the latency figure waits for one ack; a later one counts as ackTimeout.
const ackTimeout = time.Minute

// instanceLatencies posts n messages at rate and returns, for each, its scheduled POST → its
// "sent" ack at the receiver, and how many acks did not come within ackTimeout.
func (r rig) instanceLatencies(ctx context.Context, recv *ackReceiver, phone string, rate float64, n int) ([]time.Duration, int, error) {
	prefix := fmt.Sprintf("lat-inst-%v ", rate)
	start := time.Now().Add(100 * time.Millisecond)
	gap := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var late atomic.Int64
	errs := make([]error, n)
	for i := range n {
		at := start.Add(time.Duration(i) * gap)
		time.Sleep(time.Until(at))
		wg.Go(func() {
			var out struct {
				ID string `json:"id"`
			}
			body := map[string]string{"phone": phone, "body": fmt.Sprintf("%s%d", prefix, i)}
			if err := callJSON(ctx, "POST", r.inst.base+"/sendMessage", token, body, &out); err != nil {
				errs[i] = err
				return
			}
			acked, err := recv.wait(ctx, out.ID, ackTimeout)
			if err != nil {
				late.Add(1)
				lat[i] = ackTimeout
				return
			}
			lat[i] = acked.Sub(at)
		})
	}
	wg.Wait()
	return lat, int(late.Load()), errors.Join(errs...)
}

// baselineLatencies sends n messages with the baseline client at rate and returns, for each, its
// scheduled start → SendMessage returning (whatsmeow sends one at a time: a send scheduled while
// the previous one is still out waits for it, and the wait counts).
func (r rig) baselineLatencies(ctx context.Context, phone string, rate float64, n int) ([]time.Duration, error) {
	prefix := fmt.Sprintf("lat-base-%v ", rate)
	start := time.Now().Add(100 * time.Millisecond)
	gap := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		at := start.Add(time.Duration(i) * gap)
		time.Sleep(time.Until(at))
		wg.Go(func() {
			errs[i] = r.base.sendOne(ctx, phone, fmt.Sprintf("%s%d", prefix, i))
			lat[i] = time.Since(at)
		})
	}
	wg.Wait()
	return lat, errors.Join(errs...)
}

// ackReceiver is the webhook receiver of the latency figure: it notes when each message's first
// "sent" (or later) ack arrived.
type ackReceiver struct {
	url  string
	srv  *http.Server
	mu   sync.Mutex
	at   map[string]time.Time
	wake chan struct{} // closed and replaced on every ack
}

func startAckReceiver() (*ackReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &ackReceiver{url: "http://" + ln.Addr().String() + "/hook", at: map[string]time.Time{}, wake: make(chan struct{})}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

func (a *ackReceiver) serve(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	var p chat.WebhookPayload
	if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	for _, ack := range p.Ack {
		if _, seen := a.at[ack.ID]; !seen && chat.AckRank(ack.Status) >= chat.AckRank(chat.AckSent) {
			a.at[ack.ID] = now
		}
	}
	close(a.wake)
	a.wake = make(chan struct{})
	a.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// wait returns when the ack of message id arrived.
func (a *ackReceiver) wait(ctx context.Context, id string, timeout time.Duration) (time.Time, error) {
	deadline := time.After(timeout)
	for {
		a.mu.Lock()
		at, ok := a.at[id]
		wake := a.wake
		a.mu.Unlock()
		if ok {
			return at, nil
		}
		select {
		case <-wake:
		case <-deadline:
			return time.Time{}, fmt.Errorf("no ack for %s within %v", id, timeout)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

func (a *ackReceiver) close() { _ = a.srv.Close() }

// quantile is the nearest-rank q-quantile of ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
