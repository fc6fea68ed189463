package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/gateway"
	"github.com/messenger-operator/messenger-operator/internal/testbin"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
	"github.com/messenger-operator/messenger-operator/test/e2e"
)

// gatewayProcess is a `messenger-operator gateway` process under the harness.
type gatewayProcess struct {
	base, ops, logPath string
}

// startGateway runs the real gateway binary against the harness's API server. Instance Services
// are reached like in a cluster: the gateway's HTTP_PROXY is a forward proxy that dials
// <service>.<namespace>.svc through the node (Node.DialContext), as cluster DNS would.
func startGateway(t *testing.T, h *e2e.Harness, args ...string) *gatewayProcess {
	t.Helper()
	fwd := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) {}, // the absolute request URL is the destination
		Transport: &http.Transport{DialContext: h.Node.DialContext},
	})
	t.Cleanup(fwd.Close)
	listen, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ops, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	g := &gatewayProcess{base: "http://" + listen, ops: "http://" + ops, logPath: filepath.Join(t.TempDir(), "gateway.log")}
	logFile, err := os.Create(g.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testbin.Path(t), append([]string{"gateway", "--kubeconfig", h.Kubeconfig, "--listen", listen, "--ops-listen", ops}, args...)...)
	cmd.Env = append(os.Environ(), "HTTP_PROXY="+fwd.URL, "NO_PROXY=")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			data, _ := os.ReadFile(g.logPath)
			t.Logf("--- gateway log\n%s", tail(data, 6000))
		}
	})
	waitFor(t, "the gateway ready", func() error {
		resp, err := http.Get(g.ops + "/readyz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		return check(resp.StatusCode == 200, fmt.Sprintf("readyz %d", resp.StatusCode))
	})
	return g
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// code returns the status of one call through the gateway and its Retry-After header.
func (g *gatewayProcess) code(t *testing.T, method, path, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.base+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// The gateway as a real process in front of a real instance: a Chat API client pointed at
// /instance<id> works unchanged (status, sendMessage reaching the phone), /<namespace>/<name>/
// too; API keys keep to their scopes, hit their limits with 429 + Retry-After and rotate live; a
// new spec.instanceId re-routes within a second; no token or key reaches the gateway's log.
func TestGatewayEndToEnd(t *testing.T) {
	ctx := context.Background()
	h, sb := startWithPhones(t)
	k := h.Client
	if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Create(ctx, &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.MessengerInstanceSpec{NetworkURL: h.Sandbox.URL(), InstanceID: "4711"}}); err != nil {
		t.Fatal(err)
	}
	scan(t, h, sb, "")
	waitFor(t, "authenticated", func() error {
		return check(get(t, k).Status.AccountStatus == "authenticated", "status "+get(t, k).Status.AccountStatus)
	})
	gw := startGateway(t, h, "--instance-rate=0", "--key-rate=50", "--key-burst=50")
	tok := token(t, k)

	// A Chat API client with only its base URL changed.
	client := &instanceAPI{t: t, h: h, base: gw.base + "/instance4711", token: tok}
	if st := client.call("GET", "/status", nil); st["accountStatus"] != "authenticated" {
		t.Fatalf("GET /instance4711/status through the gateway: %v", st)
	}
	if sent := client.call("POST", "/sendMessage", map[string]string{"phone": bobPhone, "body": "through the front door"}); sent["sent"] != true {
		t.Fatalf("POST /instance4711/sendMessage: %v", sent)
	}
	waitFor(t, "the message on Bob's phone", func() error { return sb.received(bobPhone, "through the front door") })
	byName := &instanceAPI{t: t, h: h, base: gw.base + "/" + ns + "/" + name, token: tok}
	if st := byName.call("GET", "/status", nil); st["accountStatus"] != "authenticated" {
		t.Fatalf("GET /%s/%s/status: %v", ns, name, st)
	}

	// A read key reads but cannot send; a send key sends but cannot change the webhook.
	newKey(t, k, "reader", map[string]string{"key": "reader-key-1", "scopes": "read"})
	newKey(t, k, "sender", map[string]string{"key": "sender-key-1", "scopes": "send", "rate": "0.01", "burst": "1"})
	waitFor(t, "the read key accepted", func() error {
		c, _ := gw.code(t, "GET", "/instance4711/messages", "reader-key-1")
		return check(c == 200, fmt.Sprint("status ", c))
	})
	for _, c := range []struct {
		method, path, key string
		want              int
	}{
		{"POST", "/instance4711/sendMessage", "reader-key-1", 403},
		{"GET", "/instance4711/dialogs", "reader-key-1", 200},
		{"POST", "/instance4711/webhook", "sender-key-1", 403},
		{"POST", "/" + ns + "/" + name + "/reboot", "reader-key-1", 403},
		{"GET", "/instance4711/status", "not-a-key", 401},
	} {
		if got, _ := gw.code(t, c.method, c.path, c.key); got != c.want {
			t.Errorf("%s %s with %s = %d, want %d", c.method, c.path, c.key, got, c.want)
		}
	}
	// The send key's burst of 1 (refused calls are not charged) goes to one send; then 429 with Retry-After.
	sender := &instanceAPI{t: t, h: h, base: gw.base + "/instance4711", token: "sender-key-1"}
	if sent := sender.call("POST", "/sendMessage", map[string]string{"phone": bobPhone, "body": "sent with a key"}); sent["sent"] != true {
		t.Fatalf("sendMessage with the send key: %v", sent)
	}
	if got, retry := gw.code(t, "POST", "/instance4711/sendMessage", "sender-key-1"); got != 429 || retry == "" {
		t.Errorf("past the key's burst = %d (Retry-After %q), want 429 with Retry-After", got, retry)
	}

	// Rotation: the reader Secret gets a new key; the old one stops working, no restart.
	rotate(t, k, "reader", "reader-key-2")
	waitFor(t, "the rotated key accepted", func() error {
		c, _ := gw.code(t, "GET", "/instance4711/status", "reader-key-2")
		return check(c == 200, fmt.Sprint("status ", c))
	})
	if c, _ := gw.code(t, "GET", "/instance4711/status", "reader-key-1"); c != 401 {
		t.Errorf("the old key after rotation = %d, want 401", c)
	}

	// A new instanceId re-routes within a second.
	update(t, k, func(mi *v1alpha1.MessengerInstance) { mi.Spec.InstanceID = "4712" })
	changed := time.Now()
	testenv.EventuallyWithin(t, time.Second, "/instance4712 routed", func() error {
		c, _ := gw.code(t, "GET", "/instance4712/status", tok)
		return check(c == 200, fmt.Sprint("status ", c))
	})
	t.Logf("re-routed %v after the update", time.Since(changed))
	if c, _ := gw.code(t, "GET", "/instance4711/status", tok); c != 404 {
		t.Errorf("the old id after the change = %d, want 404", c)
	}

	logData, err := os.ReadFile(gw.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{tok, "reader-key-1", "reader-key-2", "sender-key-1"} {
		if strings.Contains(string(logData), secret) {
			t.Errorf("the gateway log holds a secret (%.4s…)", secret)
		}
	}
	if !strings.Contains(string(logData), `"path":"/instance4711/sendMessage"`) {
		t.Errorf("no access log line for sendMessage:\n%s", tail(logData, 2000))
	}
}

// newKey creates an API key Secret for the test's instance.
func newKey(t *testing.T, k client.Client, secret string, data map[string]string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: secret, Labels: map[string]string{gateway.LabelAPIKeyFor: name}}, StringData: data}
	if err := k.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// rotate replaces the key of an API key Secret.
func rotate(t *testing.T, k client.Client, secret, key string) {
	t.Helper()
	s := &corev1.Secret{}
	if err := k.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: secret}, s); err != nil {
		t.Fatal(err)
	}
	s.Data["key"] = []byte(key)
	if err := k.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}
