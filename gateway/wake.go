package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
)

// Defaults of hibernation handling.
const (
	// DefaultWakeTimeout bounds how long a call to a hibernated instance is held while it wakes.
	DefaultWakeTimeout = 30 * time.Second
	// DefaultActivityInterval is the least time between two last-call stamps of one instance.
	DefaultActivityInterval = 10 * time.Second
	// wakePoll is how often a waking instance's /readyz is asked.
	wakePoll = 100 * time.Millisecond
)

// FieldManager is the gateway's field manager for the annotations it writes.
const FieldManager = "messenger-gateway"

// sleeping reports whether calls to mi must wait for it to wake: it is hibernated or waking.
// asleep says whether a wake must still be requested.
func sleeping(mi *v1alpha1.MessengerInstance) (wait, asleep bool) {
	if mi.Spec.Hibernation == nil {
		return false, false
	}
	c := meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionHibernated)
	switch {
	case c == nil:
		return false, false
	case c.Status == metav1.ConditionTrue:
		return true, true
	default:
		return c.Reason == controllers.ReasonWaking, false
	}
}

// wakeWait is one wake of one instance that calls to it wait for together.
type wakeWait struct {
	done chan struct{}
	err  error // nil: the instance serves
}

// wakes are the wakes in progress by instance.
type wakes struct {
	mu sync.Mutex
	by map[types.NamespacedName]*wakeWait
}

// hold waits until a hibernated or waking instance serves, asking the operator to wake it. It
// returns nil when the call can go on; an error when the instance did not serve within
// WakeTimeout (or the caller left).
func (g *Gateway) hold(ctx context.Context, mi *v1alpha1.MessengerInstance, base *url.URL) error {
	wait, asleep := sleeping(mi)
	if !wait {
		return nil
	}
	key := types.NamespacedName{Namespace: mi.Namespace, Name: mi.Name}
	g.wakes.mu.Lock()
	w := g.wakes.by[key]
	if w == nil {
		w = &wakeWait{done: make(chan struct{})}
		g.wakes.by[key] = w
		go g.wake(key, asleep, base, w)
	}
	g.wakes.mu.Unlock()
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wake requests the wake (when the instance still sleeps) and polls the instance's /readyz until
// it answers 200 or WakeTimeout passes; then it releases every call waiting for it.
func (g *Gateway) wake(key types.NamespacedName, asleep bool, base *url.URL, w *wakeWait) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.WakeTimeout)
	defer cancel()
	if asleep {
		w.err = g.requestWake(ctx, key, start)
	}
	if w.err == nil {
		w.err = g.waitServing(ctx, base)
	}
	outcome := "served"
	if w.err != nil {
		outcome = "timeout"
		g.log.Warn("instance did not wake in time", "instance", key.String(), "waited", time.Since(start).String(), "error", w.err.Error())
	} else {
		g.log.Info("instance woke", "instance", key.String(), "waited", time.Since(start).String())
	}
	g.metrics.wake(outcome, time.Since(start))
	g.wakes.mu.Lock()
	delete(g.wakes.by, key)
	g.wakes.mu.Unlock()
	close(w.done)
}

// requestWake sets the wake annotation (a new value per wake) and the last-call stamp.
func (g *Gateway) requestWake(ctx context.Context, key types.NamespacedName, now time.Time) error {
	stamp := now.UTC().Format(time.RFC3339Nano)
	return g.annotate(ctx, key, map[string]string{
		v1alpha1.WakeAnnotation:     "gateway-" + strconv.FormatInt(now.UnixNano(), 36),
		v1alpha1.LastCallAnnotation: stamp,
	})
}

// annotate merge-patches annotations onto a MessengerInstance.
func (g *Gateway) annotate(ctx context.Context, key types.NamespacedName, ann map[string]string) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err != nil {
		return err
	}
	mi := &v1alpha1.MessengerInstance{}
	mi.Namespace, mi.Name = key.Namespace, key.Name
	if err := g.writer.Patch(ctx, mi, client.RawPatch(types.MergePatchType, body), client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("annotating MessengerInstance %s: %w", key, err)
	}
	return nil
}

// waitServing polls base/readyz until it answers 200.
func (g *Gateway) waitServing(ctx context.Context, base *url.URL) error {
	ready := base.JoinPath("/readyz").String()
	tick := time.NewTicker(wakePoll)
	defer tick.Stop()
	for {
		if g.ready(ctx, ready) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the instance to serve: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// ready asks one readiness probe.
func (g *Gateway) ready(ctx context.Context, u string) bool {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(pctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	resp, err := g.transport.RoundTrip(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// activity stamps the last call of hibernating instances, at most once per interval each.
type activity struct {
	mu   sync.Mutex
	last map[types.NamespacedName]time.Time
}

// recordCall stamps messenger-operator.io/last-call on an instance with spec.hibernation, unless
// it was stamped less than the interval ago (ActivityInterval, at most a quarter of idleAfter).
// The write runs in the background: the call does not wait for it.
func (g *Gateway) recordCall(mi *v1alpha1.MessengerInstance, now time.Time) {
	if mi.Spec.Hibernation == nil {
		return
	}
	interval := min(g.opts.ActivityInterval, mi.Spec.Hibernation.IdleAfter.Duration/4)
	key := types.NamespacedName{Namespace: mi.Namespace, Name: mi.Name}
	g.activity.mu.Lock()
	if now.Sub(g.activity.last[key]) < interval {
		g.activity.mu.Unlock()
		return
	}
	g.activity.last[key] = now
	g.activity.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.annotate(ctx, key, map[string]string{v1alpha1.LastCallAnnotation: now.UTC().Format(time.RFC3339Nano)}); err != nil {
			g.log.Warn("stamping the last call", "instance", key.String(), "error", err.Error())
			g.activity.mu.Lock()
			delete(g.activity.last, key) // the next call tries again
			g.activity.mu.Unlock()
		}
	}()
}
