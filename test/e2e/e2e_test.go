package e2e_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
	_ "modernc.org/sqlite"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/internal/qrscan"
	"github.com/messenger-operator/messenger-operator/internal/testbin"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
	"github.com/messenger-operator/messenger-operator/test/e2e"
)

const (
	instancePhone = "15550001111"
	bobPhone      = "15550002222"
	ns            = "e2e"
	name          = "demo"
	podName       = "demo-0"
)

// receiver records webhook payloads.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	payloads []chat.WebhookPayload
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var p chat.WebhookPayload
		if err := json.NewDecoder(req.Body).Decode(&p); err == nil {
			r.mu.Lock()
			r.payloads = append(r.payloads, p)
			r.mu.Unlock()
		}
	}))
	t.Cleanup(r.Close)
	return r
}

// got reports whether an incoming message with body reached the receiver.
func (r *receiver) got(body string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.payloads {
		for _, m := range p.Messages {
			if m.Body == body && !m.FromMe {
				return true
			}
		}
	}
	return false
}

// The whole product on a real API server: apply, scan, send, receive, change the webhook,
// reboot, log out, a second process kept off by the Lease, suspend and resume, a deleted pod,
// deletion with logout.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	h, sb := startWithPhones(t)
	hookA, hookB := newReceiver(t), newReceiver(t)
	k := h.Client

	// Apply an instance on the sandbox network.
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.MessengerInstanceSpec{NetworkURL: h.Sandbox.URL(), Webhook: &v1alpha1.WebhookSpec{URL: hookA.URL}}}
	if err := k.Create(ctx, mi); err != nil {
		t.Fatal(err)
	}

	// QR code in the status → a sandbox phone scans it → authenticated, Ready, kstatus Current.
	firstQR := scan(t, h, sb, "")
	waitFor(t, "authenticated, Ready=True and kstatus Current", func() error {
		mi := get(t, k)
		if mi.Status.AccountStatus != "authenticated" || mi.Status.Phone != instancePhone || mi.Status.QRCode != "" {
			return fmt.Errorf("status %+v", mi.Status)
		}
		if !meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionReady) {
			return fmt.Errorf("conditions %+v", mi.Status.Conditions)
		}
		if s := kstatus(t, mi); s != status.CurrentStatus {
			return fmt.Errorf("kstatus %s", s)
		}
		return nil
	})

	// A message through the instance API reaches Bob; Bob's reply reaches the webhook.
	api := &instanceAPI{t: t, h: h, token: token(t, k)}
	sent := api.call("POST", "/sendMessage", map[string]string{"phone": bobPhone, "body": "hello from the cluster"})
	if sent["sent"] != true {
		t.Fatalf("sendMessage: %v", sent)
	}
	waitFor(t, "the message on Bob's phone", func() error { return sb.received(bobPhone, "hello from the cluster") })
	sb.call("POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]string{"to": instancePhone, "body": "reply one"}, nil)
	waitFor(t, "the reply at webhook A", func() error { return check(hookA.got("reply one"), "not yet") })

	// A new webhook URL in spec applies live: the next event goes to it, without a restart.
	proc := h.Node.Pod(ns, podName)
	update(t, k, func(mi *v1alpha1.MessengerInstance) { mi.Spec.Webhook.URL = hookB.URL })
	waitFor(t, "status.webhookUrl follows spec", func() error {
		return check(get(t, k).Status.WebhookURL == hookB.URL, "webhookUrl "+get(t, k).Status.WebhookURL)
	})
	sb.call("POST", "/sandbox/phones/"+bobPhone+"/messages", map[string]string{"to": instancePhone, "body": "reply two"}, nil)
	waitFor(t, "the next reply at webhook B", func() error { return check(hookB.got("reply two"), "not yet") })
	if hookA.got("reply two") {
		t.Error("the reply after the change also went to the old webhook")
	}
	if h.Node.Pod(ns, podName) != proc || proc.Starts() != 1 {
		t.Error("changing spec.webhook restarted the instance")
	}

	// The reboot annotation restarts the process once; the session survives.
	annotate(t, k, v1alpha1.RebootAnnotation, "reboot-1")
	waitFor(t, "a new process after the reboot, authenticated again", func() error {
		p := h.Node.Pod(ns, podName)
		mi := get(t, k)
		if p == nil || p == proc || !p.Ready() {
			return fmt.Errorf("no new ready process")
		}
		if mi.Status.LastHandledReboot != "reboot-1" || !meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionReady) {
			return fmt.Errorf("status %+v", mi.Status)
		}
		return nil
	})
	rebooted := h.Node.Pod(ns, podName)
	podUID := pod(t, k).UID

	// The logout annotation gives a new QR code and lastHandledLogout; scanning it pairs again.
	annotate(t, k, v1alpha1.LogoutAnnotation, "logout-1")
	waitFor(t, "logged out with a new QR code", func() error {
		mi := get(t, k)
		if mi.Status.LastHandledLogout != "logout-1" || mi.Status.AccountStatus != "got qr code" || mi.Status.QRCode == "" {
			return fmt.Errorf("status %+v", mi.Status)
		}
		return nil
	})
	if again := scan(t, h, sb, firstQR); again == firstQR {
		t.Error("the QR code after logout is the first one")
	}
	waitFor(t, "authenticated again", func() error {
		mi := get(t, k)
		ok := mi.Status.AccountStatus == "authenticated" &&
			meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionAuthenticated) &&
			meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionReady)
		return check(ok, fmt.Sprintf("status %+v", mi.Status))
	})
	if h.Node.Pod(ns, podName) != rebooted || pod(t, k).UID != podUID || rebooted.Starts() != 1 {
		t.Error("the reboot request rolled the pod more than once, or logout restarted it")
	}

	secondProcessStaysOff(t, h, api)

	// Suspend scales to zero (the process stops, the session stays on its volume); resuming
	// connects the same account again without a QR code.
	update(t, k, func(mi *v1alpha1.MessengerInstance) { mi.Spec.Suspend = true })
	waitFor(t, "suspended: no process, Ready (Suspended)", func() error {
		c := meta.FindStatusCondition(get(t, k).Status.Conditions, v1alpha1.ConditionReady)
		if h.Node.Pod(ns, podName) != nil || c == nil || c.Status != metav1.ConditionTrue || c.Reason != "Suspended" {
			return fmt.Errorf("ready %+v", c)
		}
		return nil
	})
	update(t, k, func(mi *v1alpha1.MessengerInstance) { mi.Spec.Suspend = false })
	waitFor(t, "resumed and connected with the kept session", func() error {
		mi := get(t, k)
		if mi.Status.AccountStatus == "got qr code" {
			t.Fatalf("resuming lost the session: %+v", mi.Status)
		}
		ready := meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionReady)
		ok := h.Node.Pod(ns, podName) != nil && mi.Status.AccountStatus == "authenticated" &&
			meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionAuthenticated) &&
			ready != nil && ready.Status == metav1.ConditionTrue && ready.Reason == "Authenticated"
		return check(ok, fmt.Sprintf("status %+v", mi.Status))
	})

	// Deleting the pod (kubectl delete pod) replaces it and its process, as the StatefulSet
	// controller and the kubelet would.
	before := pod(t, k)
	if err := k.Delete(ctx, before); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new pod, serving and authenticated", func() error {
		p := &corev1.Pod{}
		if err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: podName}, p); err != nil || p.UID == before.UID {
			return fmt.Errorf("old pod or none (%v)", err)
		}
		mi := get(t, k)
		ok := meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionAuthenticated) &&
			h.Node.Pod(ns, podName) != nil && h.Node.Pod(ns, podName).Ready()
		return check(ok, fmt.Sprintf("status %+v", mi.Status))
	})

	// Delete the instance with deletionPolicy Logout: the operator logs the account out through
	// the instance's Service URL (resolved by the node), then the instance and its process go.
	update(t, k, func(mi *v1alpha1.MessengerInstance) { mi.Spec.DeletionPolicy = v1alpha1.DeletionPolicyLogout })
	waitFor(t, "the logout finalizer", func() error {
		return check(len(get(t, k).Finalizers) > 0, "no finalizer yet")
	})
	if n := len(sb.phone(instancePhone).Devices); n != 2 {
		t.Fatalf("the phone has %d devices before deletion, want the primary and the instance", n)
	}
	if err := k.Delete(ctx, get(t, k)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the instance and its process gone", func() error {
		err := k.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &v1alpha1.MessengerInstance{})
		if !apierrors.IsNotFound(err) || h.Node.Pod(ns, podName) != nil {
			return fmt.Errorf("still there (get: %v)", err)
		}
		return nil
	})
	if devices := sb.phone(instancePhone).Devices; len(devices) != 1 {
		t.Errorf("the instance's device is still linked after deletion with Logout: %v", devices)
	}
}

// secondProcessStaysOff starts a second process of the instance with a copy of its session: it
// serves but never connects while the first holds the Lease, and the first stays connected.
func secondProcessStaysOff(t *testing.T, h *e2e.Harness, api *instanceAPI) {
	t.Helper()
	dir := t.TempDir()
	claim := filepath.Join(dir, "claims", "data-"+podName)
	if err := os.MkdirAll(claim, 0o755); err != nil {
		t.Fatal(err)
	}
	copyDatabase(t, filepath.Join(h.Node.ClaimPath(ns, "data-"+podName), "messenger.db"), filepath.Join(claim, "messenger.db"))
	second, err := h.Node.StartCopy(context.Background(), ns, podName, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop()
	other := &instanceAPI{t: t, base: second.URL(), token: api.token}
	waitFor(t, "the second process waiting for the Lease", func() error {
		st := other.get("/status?full=true")
		data, _ := st["statusData"].(map[string]any)
		if msg, _ := data["msg"].(string); st["accountStatus"] != "loading" || !strings.Contains(msg, "lease") {
			return fmt.Errorf("status %v", st)
		}
		return nil
	})
	// The second process competes for the Lease from its start; while it does, the first renews
	// the Lease at least once more (so the second saw a live holder and kept waiting).
	waitFor(t, "the second process competing for the Lease", func() error {
		out, _ := os.ReadFile(second.LogPath())
		return check(strings.Contains(string(out), "Attempting to acquire leader lease"), "not yet")
	})
	lease := func() *coordinationv1.Lease {
		l := &coordinationv1.Lease{}
		if err := h.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name + "-lease"}, l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	renewed := lease().Spec.RenewTime
	waitFor(t, "a renewal of the Lease by the first process", func() error {
		l := lease()
		if l.Spec.HolderIdentity == nil || !strings.HasPrefix(*l.Spec.HolderIdentity, podName+"_") {
			t.Fatalf("lease holder %v: not the first process", l.Spec.HolderIdentity)
		}
		return check(!l.Spec.RenewTime.Equal(renewed), "not renewed yet")
	})
	if st := other.get("/status?full=true"); st["accountStatus"] != "loading" {
		t.Errorf("second process: %v", st)
	}
	second.Stop()
	st := api.get("/status?full=true")
	if data, _ := st["statusData"].(map[string]any); st["accountStatus"] != "authenticated" || data["substatus"] != "connected" {
		t.Errorf("the first process lost its connection while the second ran: %v", st)
	}
	if st := other.statusAfterStop(); st != nil {
		t.Errorf("second process still answering: %v", st)
	}
}

// copyDatabase copies a live SQLite database consistently (VACUUM INTO).
func copyDatabase(t *testing.T, from, to string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+from+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.Exec(`VACUUM INTO ?`, to); err != nil {
		t.Fatalf("copying the session database: %v", err)
	}
}

// scan waits for a QR code other than previous in the status and scans it with the instance's
// phone; QR codes rotate, so a stale one is read again.
func scan(t *testing.T, h *e2e.Harness, sb *admin, previous string) string {
	t.Helper()
	var text string
	waitFor(t, "a QR code scanned from the status", func() error {
		mi := get(t, h.Client)
		if mi.Status.AccountStatus != "got qr code" || !strings.HasPrefix(mi.Status.QRCode, "data:image/png;base64,") {
			return fmt.Errorf("status %q", mi.Status.AccountStatus)
		}
		text = decodeQR(t, mi.Status.QRCode)
		if text == previous {
			return fmt.Errorf("still the previous QR code")
		}
		return sb.try("POST", "/sandbox/phones/"+instancePhone+"/scan", map[string]string{"qr": text}, nil)
	})
	return text
}

// decodeQR reads a data:image/png;base64 QR code as a phone's camera would.
func decodeQR(t *testing.T, uri string) string {
	t.Helper()
	text, err := qrscan.DecodeDataURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

func get(t *testing.T, k client.Client) *v1alpha1.MessengerInstance {
	t.Helper()
	mi := &v1alpha1.MessengerInstance{}
	if err := k.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, mi); err != nil {
		t.Fatal(err)
	}
	return mi
}

func pod(t *testing.T, k client.Client) *corev1.Pod {
	t.Helper()
	p := &corev1.Pod{}
	if err := k.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: podName}, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func token(t *testing.T, k client.Client) string {
	t.Helper()
	s := &corev1.Secret{}
	if err := k.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name + "-token"}, s); err != nil {
		t.Fatal(err)
	}
	return string(s.Data["token"])
}

func update(t *testing.T, k client.Client, change func(*v1alpha1.MessengerInstance)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		mi := get(t, k)
		change(mi)
		return k.Update(context.Background(), mi)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func annotate(t *testing.T, k client.Client, key, value string) {
	t.Helper()
	update(t, k, func(mi *v1alpha1.MessengerInstance) {
		if mi.Annotations == nil {
			mi.Annotations = map[string]string{}
		}
		mi.Annotations[key] = value
	})
}

func kstatus(t *testing.T, mi *v1alpha1.MessengerInstance) status.Status {
	t.Helper()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(mi)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// waitFor polls until check returns nil; the deadline only bounds a hang.
func waitFor(t *testing.T, what string, check func() error) {
	t.Helper()
	testenv.EventuallyWithin(t, 2*time.Minute, what, check)
}

func check(ok bool, msg string) error {
	if ok {
		return nil
	}
	return fmt.Errorf("%s", msg)
}

func testLogger() *slog.Logger {
	if os.Getenv("TEST_VERBOSE") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// dumpLogs prints the tail of each instance log of a failed run.
func dumpLogs(t *testing.T, h *e2e.Harness) {
	logs, _ := filepath.Glob(filepath.Join(h.Dir(), "pods", "*", "*", "*", "*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		if len(data) > 6000 {
			data = data[len(data)-6000:]
		}
		t.Logf("--- %s\n%s", l, data)
	}
}

// admin calls the sandbox admin API.
type admin struct {
	t    *testing.T
	base string
}

func (a *admin) try(method, path string, body, out any) error {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func (a *admin) call(method, path string, body, out any) {
	a.t.Helper()
	if err := a.try(method, path, body, out); err != nil {
		a.t.Fatal(err)
	}
}

// phone returns a sandbox phone with its linked devices.
func (a *admin) phone(phone string) (info struct {
	Devices []string `json:"devices"`
}) {
	a.t.Helper()
	a.call("GET", "/sandbox/phones/"+phone, nil, &info)
	return info
}

// received checks that phone received a message with body.
func (a *admin) received(phone, body string) error {
	var got struct {
		Messages []struct {
			Body   string `json:"body"`
			FromMe bool   `json:"fromMe"`
		} `json:"messages"`
	}
	if err := a.try("GET", "/sandbox/phones/"+phone+"/messages", nil, &got); err != nil {
		return err
	}
	for _, m := range got.Messages {
		if m.Body == body && !m.FromMe {
			return nil
		}
	}
	return fmt.Errorf("%s has not received %q", phone, body)
}

// instanceAPI calls an instance server's Chat API with its token.
type instanceAPI struct {
	t     *testing.T
	h     *e2e.Harness
	base  string
	token string
}

func (c *instanceAPI) url() string {
	if c.base != "" {
		return c.base
	}
	addr, err := c.h.Node.ServiceAddress(context.Background(), ns, name)
	if err != nil {
		c.t.Fatal(err)
	}
	return "http://" + addr
}

func (c *instanceAPI) do(method, path string, body any) (map[string]any, error) {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(method, c.url()+path, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("%s %s: %d: %w", method, path, resp.StatusCode, err)
	}
	return out, nil
}

func (c *instanceAPI) call(method, path string, body any) map[string]any {
	c.t.Helper()
	out, err := c.do(method, path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *instanceAPI) get(path string) map[string]any {
	c.t.Helper()
	out, err := c.do("GET", path, nil)
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	return out
}

// statusAfterStop returns the status if the server still answers, else nil.
func (c *instanceAPI) statusAfterStop() map[string]any {
	out, err := c.do("GET", "/status", nil)
	if err != nil {
		return nil
	}
	return out
}

// startWithPhones starts the harness (stopped at the test's end, its logs shown when the test
// failed) and adds the instance's and Bob's sandbox phones; the test is skipped, or fails in CI,
// when the envtest binaries are missing.
func startWithPhones(t *testing.T) (*e2e.Harness, *admin) {
	t.Helper()
	if why := testenv.Unavailable(); why != "" {
		testenv.Missing(t, why)
	}
	h, err := e2e.Start(context.Background(), e2e.Options{Binary: testbin.Path(t), Dir: t.TempDir(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, h)
		}
		if err := h.Stop(); err != nil {
			t.Logf("stopping the harness: %v", err)
		}
	})
	sb := &admin{t: t, base: h.Sandbox.URL()}
	sb.call("POST", "/sandbox/phones", map[string]string{"phone": instancePhone, "name": "Instance"}, nil)
	sb.call("POST", "/sandbox/phones", map[string]string{"phone": bobPhone, "name": "Bob"}, nil)
	return h, sb
}
