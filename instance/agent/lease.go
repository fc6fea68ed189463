package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Default Lease timing: a holder renews every RetryPeriod and gives up (closing the gate) after
// failing to renew for RenewDeadline; another process takes over only after LeaseDuration
// without renewal, or at once after a release on shutdown. One renewal is one UPDATE to the API
// server; for density (docs/benchmarks.md, "Density") a renewal every 20 s, not 10 s, with the
// same 3:2:1 proportions, so the fencing margin is unchanged (see checkLeaseTiming). The price:
// a successor of a crashed (not cleanly stopped) process waits up to 60 s instead of 30 s.
const (
	DefaultLeaseDuration = 60 * time.Second
	DefaultRenewDeadline = 40 * time.Second
	DefaultRetryPeriod   = 20 * time.Second
)

// checkLeaseTiming refuses a timing under which a holder that stopped renewing could still hold
// its connection when another process may take the Lease over. The holder's last successful
// renewal was at most RetryPeriod before its next attempt starts, and it closes the gate when
// that attempt has not succeeded within RenewDeadline; a successor takes over only LeaseDuration
// after it last saw the Lease change. So RetryPeriod + RenewDeadline must not exceed
// LeaseDuration. client-go also needs RenewDeadline > 1.2 × RetryPeriod.
func checkLeaseTiming(duration, renewDeadline, retry time.Duration) error {
	if retry+renewDeadline > duration {
		return fmt.Errorf("lease timing: retry period %s + renew deadline %s exceed the lease duration %s: "+
			"a holder could still be connected when another process takes over", retry, renewDeadline, duration)
	}
	if float64(renewDeadline) <= leaderelection.JitterFactor*float64(retry) {
		return fmt.Errorf("lease timing: renew deadline %s must exceed %.1f × the retry period %s",
			renewDeadline, leaderelection.JitterFactor, retry)
	}
	return nil
}

// Lease holds the account's coordination.k8s.io Lease. It is the engine's gate (instance/engine
// Gate): the engine may connect only while Allowed is true, so two processes of one instance
// never hold a WhatsApp connection at the same time.
type Lease struct {
	name, namespace, identity      string
	client                         coordinationv1client.LeasesGetter
	duration, renewDeadline, retry time.Duration
	log                            *slog.Logger
	changed                        chan struct{} // read by the engine
	onChange                       func()        // the agent's wake-up

	mu   sync.Mutex
	held bool
}

// Allowed reports whether this process holds the Lease.
func (l *Lease) Allowed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// Changed receives a value whenever Allowed may have changed.
func (l *Lease) Changed() <-chan struct{} { return l.changed }

// Identity is the holder identity this process writes into the Lease.
func (l *Lease) Identity() string { return l.identity }

// set records whether the Lease is held; started is the context of the term that began, so a
// late start of an already ended term is ignored.
func (l *Lease) set(held bool, started context.Context) {
	l.mu.Lock()
	if held && started.Err() != nil {
		l.mu.Unlock()
		return
	}
	changed := l.held != held
	l.held = held
	l.mu.Unlock()
	if !changed {
		return
	}
	l.log.Info("connection lease", "held", held, "lease", l.namespace+"/"+l.name, "identity", l.identity)
	select {
	case l.changed <- struct{}{}:
	default:
	}
	if l.onChange != nil {
		l.onChange()
	}
}

// run competes for the Lease until ctx ends: each term ends when a renewal fails (the gate closes
// first), then the process competes again. The Lease is not released here: see release.
func (l *Lease) run(ctx context.Context) error {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: l.namespace, Name: l.name},
		Client:     l.client,
		LockConfig: resourcelock.ResourceLockConfig{Identity: l.identity},
	}
	for ctx.Err() == nil {
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:          lock,
			Name:          l.name,
			LeaseDuration: l.duration,
			RenewDeadline: l.renewDeadline,
			RetryPeriod:   l.retry,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(term context.Context) { l.set(true, term) },
				OnStoppedLeading: func() { l.set(false, ctx) },
			},
		})
		if err != nil {
			return fmt.Errorf("lease %s/%s: %w", l.namespace, l.name, err)
		}
		elector.Run(ctx)
	}
	return nil
}

// holder reads the Lease's current holder identity ("" when none).
func (l *Lease) holder(ctx context.Context) (string, error) {
	lease, err := l.client.Leases(l.namespace).Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading lease %s/%s: %w", l.namespace, l.name, err)
	}
	if lease.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *lease.Spec.HolderIdentity, nil
}

// release gives the Lease up when this process holds it, so a successor need not wait for it to
// expire. Call it only once the engine has disconnected.
func (l *Lease) release(ctx context.Context) error {
	leases := l.client.Leases(l.namespace)
	lease, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading lease %s/%s: %w", l.namespace, l.name, err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != l.identity {
		return nil
	}
	empty, one, now := "", int32(1), metav1.NewMicroTime(time.Now())
	lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = &empty, &one, &now
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("releasing lease %s/%s: %w", l.namespace, l.name, err)
	}
	l.log.Info("connection lease released", "lease", l.namespace+"/"+l.name)
	return nil
}
