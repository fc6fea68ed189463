package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/agent"
	"github.com/messenger-operator/messenger-operator/instance/qr"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
)

var (
	restConfig *rest.Config
	k8s        client.Client
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{NewScheme: controllers.NewScheme}, func(env *testenv.Env) (func(), error) {
		restConfig, k8s = env.Config, env.Client
		return nil, nil
	}))
}

// fakeEngine is the test double of the WhatsApp engine: the test sets its status.
type fakeEngine struct {
	mu      sync.Mutex
	st      account.Status
	phone   string
	logouts int
	subs    []chan struct{}
}

func (e *fakeEngine) set(st account.Status, phone string) {
	e.mu.Lock()
	e.st, e.phone = st, phone
	subs := e.subs
	e.mu.Unlock()
	for _, ch := range subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (e *fakeEngine) Status() account.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st
}

func (e *fakeEngine) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	e.mu.Lock()
	e.subs = append(e.subs, ch)
	e.mu.Unlock()
	return ch, func() {}
}

func (e *fakeEngine) Logout(context.Context) error {
	e.mu.Lock()
	e.logouts++
	e.mu.Unlock()
	e.set(account.Status{AccountStatus: account.StatusGotQRCode, Substatus: account.SubstatusLoggedOut, QR: "2@after-logout"}, "")
	return nil
}

func (e *fakeEngine) logoutCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logouts
}

func (e *fakeEngine) Reboot(context.Context) error { return nil }
func (e *fakeEngine) PairingCode(context.Context, string) (string, error) {
	return "", account.ErrUnavailable
}
func (e *fakeEngine) WakeQueue() {}

func (e *fakeEngine) Me(context.Context) (account.Me, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.phone == "" {
		return account.Me{}, account.ErrNotAuthenticated
	}
	return account.Me{ID: e.phone + "@c.us", Phone: e.phone}, nil
}

// setup creates a namespace, the instance and the children the agent relies on (its
// ServiceAccount, Role, RoleBinding and Lease, as the operator builds them), and returns a
// client configuration authenticated as the instance's ServiceAccount.
func setup(t *testing.T, name string, mutate func(*v1alpha1.MessengerInstance)) (string, *rest.Config) {
	t.Helper()
	testenv.Shared(t)
	ctx := context.Background()
	ns := testenv.Namespace(t, k8s, "kube")
	mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if mutate != nil {
		mutate(mi)
	}
	if err := k8s.Create(ctx, mi); err != nil {
		t.Fatal(err)
	}
	for _, ac := range []runtime.ApplyConfiguration{controllers.BuildServiceAccount(mi), controllers.BuildRole(mi),
		controllers.BuildRoleBinding(mi), controllers.BuildLease(mi)} {
		if err := k8s.Apply(ctx, ac, client.FieldOwner("test"), client.ForceOwnership); err != nil {
			t.Fatal(err)
		}
	}
	tok := &authenticationv1.TokenRequest{}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: controllers.ServiceAccountName(mi)}}
	if err := k8s.SubResource("token").Create(ctx, sa, tok); err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(restConfig)
	cfg.BearerToken = tok.Status.Token
	return ns, cfg
}

// agentProc is one running agent (one instance process).
type agentProc struct {
	agent *agent.Agent
	eng   *fakeEngine
	store *store.Store
	stop  func()
}

func startAgent(t *testing.T, cfg *rest.Config, ns, name string, eng *fakeEngine) *agentProc {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()}))
	ag, err := agent.New(agent.Options{Config: cfg, Namespace: ns, Name: name, Store: st, Logger: logger,
		Identity:        agent.NewIdentity(name + "-0"),
		CounterInterval: 200 * time.Millisecond,
		LeaseDuration:   4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ag.Run(ctx, eng, nil); err != nil {
			t.Errorf("agent.Run: %v", err)
		}
	}()
	p := &agentProc{agent: ag, eng: eng, store: st}
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			_ = st.Close()
		})
	}
	t.Cleanup(p.stop)
	return p
}

func get(t *testing.T, ns, name string) *v1alpha1.MessengerInstance {
	t.Helper()
	mi := &v1alpha1.MessengerInstance{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, mi); err != nil {
		t.Fatal(err)
	}
	return mi
}

func authenticated(mi *v1alpha1.MessengerInstance) *metav1.Condition {
	return meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionAuthenticated)
}

// The agent reports QR codes, the account and the counters with the ServiceAccount's rights.
func TestStatusReported(t *testing.T) {
	ns, cfg := setup(t, "alpha", nil)
	eng := &fakeEngine{st: account.Status{AccountStatus: account.StatusLoading, Substatus: account.SubstatusConnecting}}
	p := startAgent(t, cfg, ns, "alpha", eng)

	eng.set(account.Status{AccountStatus: account.StatusGotQRCode, Substatus: account.SubstatusPairing, QR: "2@first"}, "")
	want, _ := qr.DataURI("2@first")
	testenv.Eventually(t, "QR code in status", func() error {
		mi := get(t, ns, "alpha")
		c := authenticated(mi)
		if mi.Status.AccountStatus != "got qr code" || mi.Status.QRCode != want || c == nil ||
			c.Status != metav1.ConditionFalse || c.Reason != agent.ReasonAwaitingScan {
			return fmt.Errorf("status %+v", mi.Status)
		}
		return nil
	})
	eng.set(account.Status{AccountStatus: account.StatusGotQRCode, Substatus: account.SubstatusPairing, QR: "2@second"}, "")
	want, _ = qr.DataURI("2@second")
	testenv.Eventually(t, "rotated QR code in status", func() error {
		if mi := get(t, ns, "alpha"); mi.Status.QRCode != want {
			return fmt.Errorf("qrCode not rotated")
		}
		return nil
	})

	eng.set(account.Status{AccountStatus: account.StatusAuthenticated, Substatus: account.SubstatusConnected}, "15550001111")
	if _, _, err := p.store.AppendMessage(context.Background(), testMessage("m1")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "authenticated, phone and counters", func() error {
		mi := get(t, ns, "alpha")
		c := authenticated(mi)
		if mi.Status.AccountStatus != "authenticated" || mi.Status.QRCode != "" || mi.Status.Phone != "15550001111" ||
			mi.Status.LastMessageNumber != 1 || c == nil || c.Status != metav1.ConditionTrue || c.Reason != agent.ReasonConnected {
			return fmt.Errorf("status %+v", mi.Status)
		}
		return nil
	})
	// Logged in but offline: accountStatus stays, but nothing can be sent now.
	eng.set(account.Status{AccountStatus: account.StatusAuthenticated, Substatus: account.SubstatusOffline, Message: "keepalive timeout"}, "15550001111")
	testenv.Eventually(t, "offline is not authenticated-for-sending", func() error {
		if c := authenticated(get(t, ns, "alpha")); c == nil || c.Status != metav1.ConditionFalse || c.Reason != "Offline" {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})

	// Stopping reports the stop and releases the Lease.
	p.stop()
	mi := get(t, ns, "alpha")
	if c := authenticated(mi); c == nil || c.Reason != agent.ReasonStopped {
		t.Errorf("after stop: condition %+v", c)
	}
	lease := leaseHolder(t, ns, "alpha")
	if lease != "" {
		t.Errorf("lease still held by %q after stop", lease)
	}
}

func leaseHolder(t *testing.T, ns, name string) string {
	t.Helper()
	l := &coordinationLease{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name + "-lease"}, &l.Lease); err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// spec.webhook is applied live, wins over the API, and its removal turns its URL off.
func TestWebhookFromSpec(t *testing.T) {
	ns, cfg := setup(t, "beta", func(mi *v1alpha1.MessengerInstance) {
		mi.Spec.Webhook = &v1alpha1.WebhookSpec{URL: "https://hooks.example/one", AckNotifications: true}
	})
	eng := &fakeEngine{st: account.Status{AccountStatus: account.StatusLoading, Substatus: account.SubstatusConnecting}}
	p := startAgent(t, cfg, ns, "beta", eng)
	settingsAre := func(url string, acks bool) func() error {
		return func() error {
			s := p.store.Settings()
			if s.WebhookURL != url || s.AckNotifications != acks {
				return fmt.Errorf("settings %+v", s)
			}
			if got := get(t, ns, "beta").Status.WebhookURL; got != url {
				return fmt.Errorf("status.webhookUrl %q", got)
			}
			return nil
		}
	}
	testenv.Eventually(t, "spec webhook applied", settingsAre("https://hooks.example/one", true))

	update(t, ns, "beta", func(mi *v1alpha1.MessengerInstance) {
		mi.Spec.Webhook.URL, mi.Spec.Webhook.AckNotifications = "https://hooks.example/two", false
	})
	testenv.Eventually(t, "changed spec webhook applied", settingsAre("https://hooks.example/two", false))

	// POST /webhook while spec.webhook is set: spec wins again.
	if err := p.store.SetWebhookURL(context.Background(), "https://elsewhere.example/"); err != nil {
		t.Fatal(err)
	}
	p.agent.WebhookChanged()
	testenv.Eventually(t, "spec wins over the API", settingsAre("https://hooks.example/two", false))

	update(t, ns, "beta", func(mi *v1alpha1.MessengerInstance) { mi.Spec.Webhook = nil })
	testenv.Eventually(t, "removed spec webhook turned off", settingsAre("", false))
}

// The logout annotation logs out once per value, also across restarts, and only in the Lease
// holder; two agents never hold the Lease at once.
func TestLogoutAnnotationAndLease(t *testing.T) {
	ns, cfg := setup(t, "gamma", nil)
	authed := account.Status{AccountStatus: account.StatusAuthenticated, Substatus: account.SubstatusConnected}
	first := startAgent(t, cfg, ns, "gamma", &fakeEngine{st: authed, phone: "15550001111"})
	testenv.Eventually(t, "first agent holds the lease", func() error {
		if !first.agent.Gate().Allowed() {
			return fmt.Errorf("not held")
		}
		return nil
	})
	second := startAgent(t, cfg, ns, "gamma", &fakeEngine{st: account.Status{AccountStatus: account.StatusLoading,
		Substatus: account.SubstatusOffline, Message: "standby"}})

	annotate(t, ns, "gamma", "first")
	testenv.Eventually(t, "logout handled", func() error {
		mi := get(t, ns, "gamma")
		if mi.Status.LastHandledLogout != "first" || mi.Status.AccountStatus != "got qr code" {
			return fmt.Errorf("status %+v", mi.Status)
		}
		return nil
	})
	if n := first.eng.logoutCount(); n != 1 {
		t.Errorf("first agent logged out %d times, want 1", n)
	}
	if second.agent.Gate().Allowed() || second.eng.logoutCount() != 0 {
		t.Errorf("standby agent: lease %v, logouts %d", second.agent.Gate().Allowed(), second.eng.logoutCount())
	}
	if msg := get(t, ns, "gamma").Status.Conditions; strings.Contains(fmt.Sprint(msg), "standby") {
		t.Errorf("the standby agent wrote status: %v", msg)
	}

	// The holder stops: the standby takes over at once (released lease), reports, and does not
	// repeat the handled logout.
	first.stop()
	testenv.Eventually(t, "standby takes the lease", func() error {
		if !second.agent.Gate().Allowed() {
			return fmt.Errorf("not held")
		}
		if c := authenticated(get(t, ns, "gamma")); c == nil || c.Message != "standby" {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
	if first.agent.Gate().Allowed() {
		t.Error("both agents hold the lease")
	}
	annotate(t, ns, "gamma", "second")
	testenv.Eventually(t, "second logout handled by the new holder", func() error {
		if mi := get(t, ns, "gamma"); mi.Status.LastHandledLogout != "second" {
			return fmt.Errorf("lastHandledLogout %q", mi.Status.LastHandledLogout)
		}
		return nil
	})
	if n := second.eng.logoutCount(); n != 1 {
		t.Errorf("new holder logged out %d times, want 1 (the first value was already handled)", n)
	}
}

func annotate(t *testing.T, ns, name, value string) {
	t.Helper()
	update(t, ns, name, func(mi *v1alpha1.MessengerInstance) {
		if mi.Annotations == nil {
			mi.Annotations = map[string]string{}
		}
		mi.Annotations[v1alpha1.LogoutAnnotation] = value
	})
}

// update changes the resource, retrying when the agent's status writes got in between.
func update(t *testing.T, ns, name string, change func(*v1alpha1.MessengerInstance)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mi := get(t, ns, name)
		change(mi)
		return k8s.Update(context.Background(), mi)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A new process (a reboot, a resumed instance) does not repeat a logout that status says was
// handled, whether it gets the Lease before or after it first sees the resource.
func TestHandledLogoutNotRepeatedAfterRestart(t *testing.T) {
	ns, cfg := setup(t, "delta", func(mi *v1alpha1.MessengerInstance) {
		mi.Annotations = map[string]string{v1alpha1.LogoutAnnotation: "done-before"}
	})
	authed := account.Status{AccountStatus: account.StatusAuthenticated, Substatus: account.SubstatusConnected}
	first := startAgent(t, cfg, ns, "delta", &fakeEngine{st: authed, phone: "15550001111"})
	testenv.Eventually(t, "the first process handles the request", func() error {
		if get(t, ns, "delta").Status.LastHandledLogout != "done-before" {
			return fmt.Errorf("not handled")
		}
		return nil
	})
	first.stop()
	for range 3 {
		eng := &fakeEngine{st: authed, phone: "15550001111"}
		p := startAgent(t, cfg, ns, "delta", eng)
		testenv.Eventually(t, "the restarted process reports", func() error {
			if c := authenticated(get(t, ns, "delta")); !p.agent.Gate().Allowed() || c == nil || c.Reason != agent.ReasonConnected {
				return fmt.Errorf("condition %+v", c)
			}
			return nil
		})
		p.stop()
		if n := eng.logoutCount(); n != 0 {
			t.Fatalf("a restarted process logged out again (%d times) for an already handled request", n)
		}
	}
}

// An ack setting changed through the API (no hook tells the agent) goes back to spec.webhook.
func TestAckSettingFollowsSpec(t *testing.T) {
	ns, cfg := setup(t, "eps", func(mi *v1alpha1.MessengerInstance) {
		mi.Spec.Webhook = &v1alpha1.WebhookSpec{URL: "https://hooks.example/e", AckNotifications: true}
	})
	p := startAgent(t, cfg, ns, "eps", &fakeEngine{st: account.Status{AccountStatus: account.StatusInit}})
	testenv.Eventually(t, "spec applied", func() error {
		if !p.store.Settings().AckNotifications {
			return fmt.Errorf("acks off")
		}
		return nil
	})
	if err := p.store.SetAckNotifications(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "ack setting back to spec", func() error {
		if !p.store.Settings().AckNotifications {
			return fmt.Errorf("acks still off")
		}
		return nil
	})
}
