// Package agent is the instance server's kube agent: in a pod it reports the account into its
// MessengerInstance status (server-side apply under its own field manager), applies the
// resource's webhook settings live, carries out logout requests made with the
// messenger-operator.io/logout annotation, and holds the account's Lease, which gates the
// WhatsApp connection so that two processes of one instance never both connect.
package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// FieldManager is the server-side-apply field manager of the agent's status writes; the
// operator writes its own status fields under another one.
const FieldManager = "messenger-instance"

// DefaultCounterInterval is how often queueLength and lastMessageNumber are refreshed: they
// change with every message, so they are written at most this often. Account changes (QR codes,
// status) are written at once.
const DefaultCounterInterval = 15 * time.Second

// resource is the MessengerInstance resource.
var resource = schema.GroupVersionResource{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version,
	Resource: "messengerinstances"}

// Options configure an Agent.
type Options struct {
	// Config is the Kubernetes client configuration (in-cluster, or a kubeconfig).
	Config *rest.Config
	// Namespace and Name identify the instance's MessengerInstance.
	Namespace, Name string
	// LeaseName is the account's Lease (default <name>-lease, as the operator creates it).
	LeaseName string
	// Identity is the Lease holder identity (default: the pod name or host name plus a random
	// suffix, so two processes never share one).
	Identity string
	// Store holds the webhook settings and the counters reported in status.
	Store *store.Store
	// Logger receives structured logs.
	Logger *slog.Logger
	// CounterInterval overrides DefaultCounterInterval.
	CounterInterval time.Duration
	// LeaseDuration, RenewDeadline and RetryPeriod override the Default lease timing.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Agent is the kube agent of one instance. Build it with New, give Gate to the engine, then Run.
type Agent struct {
	opts  Options
	log   *slog.Logger
	res   dynamic.ResourceInterface
	lease *Lease
	flap  flapState // rate limit of status writes and Events while the connection flaps

	wake     chan struct{} // the status writer
	specWake chan struct{} // the spec applier

	mu           sync.Mutex
	current      *v1alpha1.MessengerInstance // latest observed resource (nil until the first)
	handled      string                      // lastHandledLogout
	specURL      string                      // the webhook URL spec.webhook set (empty: none)
	specSet      bool                        // spec.webhook is set: it, not the API, owns the webhook settings
	specSettings []string                    // the /settings fields spec.settings sets
	last         *report                     // the last status written
	since        metav1.Time                 // lastTransitionTime of the Authenticated condition
	qrText       string                      // QR text of qrURI
	qrURI        string                      // rendered QR data URI (cached)
}

// New builds the agent; it talks to the API server only in Run.
func New(opts Options) (*Agent, error) {
	if opts.Config == nil || opts.Namespace == "" || opts.Name == "" || opts.Store == nil {
		return nil, errors.New("kube agent needs a client configuration, a namespace, a name and a store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LeaseName == "" {
		opts.LeaseName = opts.Name + "-lease"
	}
	if opts.Identity == "" {
		opts.Identity = defaultIdentity()
	}
	if opts.CounterInterval <= 0 {
		opts.CounterInterval = DefaultCounterInterval
	}
	if opts.LeaseDuration <= 0 || opts.RenewDeadline <= 0 || opts.RetryPeriod <= 0 {
		opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod = DefaultLeaseDuration, DefaultRenewDeadline, DefaultRetryPeriod
	}
	if err := checkLeaseTiming(opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod); err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(opts.Config)
	cfg.UserAgent = "messenger-instance/" + opts.Name
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube agent client: %w", err)
	}
	coord, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube agent lease client: %w", err)
	}
	a := &Agent{
		opts: opts, log: opts.Logger.With("component", "kube-agent"),
		res:  dyn.Resource(resource).Namespace(opts.Namespace),
		wake: make(chan struct{}, 1), specWake: make(chan struct{}, 1),
	}
	if a.flap, err = newFlapState(cfg, opts.Identity); err != nil {
		return nil, err
	}
	a.lease = &Lease{
		name: opts.LeaseName, namespace: opts.Namespace, identity: opts.Identity, client: coord,
		duration: opts.LeaseDuration, renewDeadline: opts.RenewDeadline, retry: opts.RetryPeriod,
		log: a.log, changed: make(chan struct{}, 1),
		onChange: func() { signal(a.wake); signal(a.specWake) },
	}
	return a, nil
}

// Gate is the engine's connection gate: the account's Lease.
func (a *Agent) Gate() *Lease { return a.lease }

// WebhookChanged tells the agent that the webhook settings were changed through the API: the
// effective URL goes to status, and spec.webhook, when set, is applied again (spec wins).
func (a *Agent) WebhookChanged() {
	signal(a.specWake)
	signal(a.wake)
}

// Run works until ctx ends: it holds the Lease, watches the resource, applies its spec and
// reports status. Cancel ctx only after the engine stopped: Run then writes a last status and
// releases the Lease. kick is called after the agent changed the webhook settings.
func (a *Agent) Run(ctx context.Context, eng account.Engine, kick func()) error {
	if kick == nil {
		kick = func() {}
	}
	changes, unsubscribe := subscribe(eng)
	defer unsubscribe()
	var wg sync.WaitGroup
	leaseErr := make(chan error, 1)
	wg.Go(func() { leaseErr <- a.lease.run(ctx) })
	wg.Go(func() { a.watch(ctx) })
	wg.Go(func() { a.applySpecLoop(ctx, eng, kick) })
	wg.Go(func() { a.writeLoop(ctx, eng, changes) })
	wg.Wait()
	final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(<-leaseErr, a.stepDown(final, eng))
}

// subscribe returns the engine's change notifications, or nil (no notifications) for engines
// that have none; they are still reported on the counter interval.
func subscribe(eng account.Engine) (<-chan struct{}, func()) {
	if n, ok := eng.(account.Notifier); ok {
		return n.Subscribe()
	}
	return nil, func() {}
}

// observed returns the latest observed resource (nil before the first).
func (a *Agent) observed() *v1alpha1.MessengerInstance {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current
}

// defaultIdentity is NewIdentity of the host name.
func defaultIdentity() string {
	host, _ := os.Hostname()
	return NewIdentity(host)
}

// NewIdentity returns a Lease holder identity: name (the pod name) and a random suffix, so that
// two processes started for one pod never share an identity.
func NewIdentity(name string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return name + "_" + hex.EncodeToString(b)
}

// signal wakes a goroutine waiting on ch without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// backoff doubles from one second up to 30 s.
// retrier schedules the retries of a loop's failed step with backoff.
type retrier struct {
	failures int
	// C fires when the failed step is due again (nil: nothing to retry).
	C <-chan time.Time
}

// done records the outcome of a step: after an error it logs what failed and schedules a retry.
func (r *retrier) done(log *slog.Logger, what string, err error) {
	if err == nil {
		r.failures, r.C = 0, nil
		return
	}
	r.failures++
	wait := backoff(r.failures)
	log.Warn(what, "error", err, "retryIn", wait)
	r.C = time.After(wait)
}

func backoff(failures int) time.Duration {
	d := time.Second
	for i := 1; i < failures && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

// now is metav1.Now, to the second as the API server stores it.
func now() metav1.Time { return metav1.NewTime(time.Now().Truncate(time.Second)) }
