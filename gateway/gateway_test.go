package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/gateway"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, testenv.Options{NewScheme: controllers.NewScheme, Unthrottled: true}, nil))
}

// seen is what an upstream double received.
type seen struct {
	Upstream, Path, RawQuery, Auth string
	Bytes                          int64
}

// upstreams are instance doubles by instance name: each answers with what it received.
type upstreams struct {
	mu  sync.Mutex
	srv map[string]*httptest.Server
}

func (u *upstreams) add(t *testing.T, name string) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		_ = json.NewEncoder(w).Encode(seen{Upstream: name, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), Bytes: n})
	}))
	t.Cleanup(srv.Close)
	u.mu.Lock()
	u.srv[name] = srv
	u.mu.Unlock()
}

func (u *upstreams) resolve(mi *v1alpha1.MessengerInstance) (*url.URL, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.srv[mi.Name]
	if s == nil {
		return nil, fmt.Errorf("no upstream %s", mi.Name)
	}
	return url.Parse(s.URL)
}

// fixture is a gateway on the shared API server with instance doubles.
type fixture struct {
	t   *testing.T
	k   client.Client
	ns  string
	url string
	up  *upstreams
}

func newFixture(t *testing.T, opts gateway.Options) *fixture {
	t.Helper()
	return startFixture(t, opts, nil)
}

// startFixture is newFixture with objects created by before ahead of the gateway's start (its
// informers have them when it serves).
func startFixture(t *testing.T, opts gateway.Options, before func(*fixture)) *fixture {
	t.Helper()
	env := testenv.Shared(t)
	f := &fixture{t: t, k: env.Client, ns: testenv.Namespace(t, env.Client, "gw"), up: &upstreams{srv: map[string]*httptest.Server{}}}
	if before != nil {
		before(f)
	}
	opts.Resolve = f.up.resolve
	g, err := gateway.New(env.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

// instance creates a MessengerInstance with its token Secret and an upstream double.
func (f *fixture) instance(name, id, token string) {
	f.t.Helper()
	f.up.add(f.t, name)
	mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name}, Spec: v1alpha1.MessengerInstanceSpec{InstanceID: id}}
	f.create(mi)
	f.create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name + "-token"}, Data: map[string][]byte{"token": []byte(token)}})
}

// key creates an API key Secret for instance.
func (f *fixture) key(secret, instance string, data map[string]string) {
	f.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: secret, Labels: map[string]string{gateway.LabelAPIKeyFor: instance}},
		StringData: data}
	f.create(s)
}

func (f *fixture) create(obj client.Object) {
	f.t.Helper()
	if err := f.k.Create(context.Background(), obj); err != nil {
		f.t.Fatal(err)
	}
}

// call makes one request and decodes a JSON answer into out (when not nil).
func (f *fixture) call(method, path, bearer string, body io.Reader, out any) *http.Response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp
}

// wantCode waits until the call answers code (the informer may lag a new object briefly).
func (f *fixture) wantCode(method, path, bearer string, code int) {
	f.t.Helper()
	testenv.Eventually(f.t, fmt.Sprintf("%s %s answers %d", method, path, code), func() error {
		if got := f.call(method, path, bearer, nil, nil).StatusCode; got != code {
			return fmt.Errorf("status %d", got)
		}
		return nil
	})
}

// Both URL shapes reach the instance with the prefix stripped, the query kept without the
// caller's token, and the instance's own token.
func TestRoutesBothShapes(t *testing.T) {
	requireEnv(t)
	f := newFixture(t, gateway.Options{})
	f.instance("alpha", "777", "alpha-secret")
	f.wantCode("GET", "/"+f.ns+"/alpha/status", "alpha-secret", 200)

	var got seen
	f.call("GET", "/"+f.ns+"/alpha/messages?token=alpha-secret&limit=5", "", nil, &got)
	if got.Upstream != "alpha" || got.Path != "/messages" || got.RawQuery != "limit=5" || got.Auth != "Bearer alpha-secret" {
		t.Errorf("by name: upstream saw %+v", got)
	}
	got = seen{}
	f.call("GET", "/instance777/status?x=1", "alpha-secret", nil, &got)
	if got.Upstream != "alpha" || got.Path != "/status" || got.RawQuery != "x=1" {
		t.Errorf("by id: upstream saw %+v", got)
	}
	got = seen{}
	f.call("GET", "/"+f.ns+"/alpha/instance777/status", "alpha-secret", nil, &got)
	if got.Path != "/instance777/status" {
		t.Errorf("nested /instance<id>: upstream saw path %q, want it kept for the instance", got.Path)
	}
	for _, c := range []struct {
		path string
		code int
	}{{"/instance778/status", 404}, {"/" + f.ns + "/nobody/status", 404}, {"/", 404}, {"/" + f.ns + "/alpha/status", 401}} {
		if resp := f.call("GET", c.path, "", nil, nil); resp.StatusCode != c.code {
			t.Errorf("GET %s without token = %d, want %d", c.path, resp.StatusCode, c.code)
		}
	}
	if resp := f.call("GET", "/"+f.ns+"/alpha/status", "wrong", nil, nil); resp.StatusCode != 401 {
		t.Errorf("wrong token = %d, want 401", resp.StatusCode)
	}
}

// Keys act within their scopes only, never for another instance, and the instance sees its own token.
func TestAPIKeyScopes(t *testing.T) {
	requireEnv(t)
	f := newFixture(t, gateway.Options{})
	f.instance("bravo", "", "bravo-secret")
	f.instance("other", "", "other-secret")
	f.key("bravo-reader", "bravo", map[string]string{"key": "k-read", "scopes": "read"})
	f.key("bravo-sender", "bravo", map[string]string{"key": "k-send", "scopes": "send"})
	f.key("bravo-admin", "bravo", map[string]string{"key": "k-admin", "scopes": "read, admin"})
	base := "/" + f.ns + "/bravo"
	f.wantCode("GET", base+"/status", "k-admin", 200)
	cases := []struct {
		key, method, path string
		code              int
	}{
		{"k-read", "GET", "/status", 200},
		{"k-read", "GET", "/qr_code", 200},
		{"k-read", "GET", "/showMessagesQueue", 200},
		{"k-read", "POST", "/sendMessage", 403},
		{"k-read", "POST", "/webhook", 403},
		{"k-send", "POST", "/sendMessage", 200},
		{"k-send", "POST", "/instance12/sendFile", 200},
		{"k-send", "POST", "/readChat", 200},
		{"k-send", "GET", "/dialogs", 200},
		{"k-send", "POST", "/settings", 403},
		{"k-send", "GET", "/reboot", 403},
		{"k-send", "POST", "/someFutureEndpoint", 403},
		{"k-admin", "POST", "/logout", 200},
		{"k-admin", "POST", "/clearMessagesQueue", 200},
		{"k-admin", "POST", "/someFutureEndpoint", 200},
	}
	for _, c := range cases {
		var got seen
		resp := f.call(c.method, base+c.path, c.key, nil, &got)
		if resp.StatusCode != c.code {
			t.Errorf("%s %s with %s = %d, want %d", c.method, c.path, c.key, resp.StatusCode, c.code)
		}
		if c.code == 200 && got.Auth != "Bearer bravo-secret" {
			t.Errorf("%s %s with %s: instance saw Authorization %q, want its own token", c.method, c.path, c.key, got.Auth)
		}
	}
	if resp := f.call("GET", "/"+f.ns+"/other/status", "k-admin", nil, nil); resp.StatusCode != 401 {
		t.Errorf("bravo's key on another instance = %d, want 401", resp.StatusCode)
	}
}

// A key's rate and burst come from its Secret; past them the gateway answers 429 with Retry-After,
// and gatewayStatus reports the limits. The instance's limit covers every caller together.
func TestRateLimits(t *testing.T) {
	requireEnv(t)
	f := newFixture(t, gateway.Options{KeyLimit: gateway.Limit{Rate: 100, Burst: 100}, InstanceLimit: gateway.Limit{Rate: 0.01, Burst: 6}})
	f.instance("charlie", "", "charlie-secret")
	f.key("charlie-slow", "charlie", map[string]string{"key": "k-slow", "scopes": "send", "rate": "0.01", "burst": "2"})
	base := "/" + f.ns + "/charlie"
	var st gateway.Status
	testenv.Eventually(t, "gatewayStatus", func() error {
		if resp := f.call("GET", base+"/gatewayStatus", "k-slow", nil, &st); resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
	if st.Key.Rate != 0.01 || st.Key.Burst != 2 || st.Instance.Burst != 6 || st.Caller != "key/charlie-slow" || st.Scope != "send" {
		t.Errorf("gatewayStatus = %+v", st)
	}
	// gatewayStatus took the first token of the burst of 2.
	if resp := f.call("POST", base+"/sendMessage", "k-slow", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("second call = %d, want 200", resp.StatusCode)
	}
	resp := f.call("POST", base+"/sendMessage", "k-slow", nil, nil)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third call = %d (Retry-After %q), want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The token has its own bucket (the default 100/s) but shares the instance's 6: 2 taken, 1 refused
	// without being charged, so 4 remain.
	for i := range 4 {
		if resp := f.call("GET", base+"/status", "charlie-secret", nil, nil); resp.StatusCode != 200 {
			t.Fatalf("token call %d = %d, want 200", i, resp.StatusCode)
		}
	}
	if resp := f.call("GET", base+"/status", "charlie-secret", nil, nil); resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("call past the instance's burst = %d, want 429 with Retry-After", resp.StatusCode)
	}
}

// A key Secret's change (new key, new scopes) takes effect without a restart.
func TestKeyRotation(t *testing.T) {
	requireEnv(t)
	f := newFixture(t, gateway.Options{})
	f.instance("delta", "", "delta-secret")
	f.key("delta-key", "delta", map[string]string{"key": "old-key", "scopes": "read"})
	base := "/" + f.ns + "/delta"
	f.wantCode("GET", base+"/status", "old-key", 200)
	s := &corev1.Secret{}
	if err := f.k.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "delta-key"}, s); err != nil {
		t.Fatal(err)
	}
	s.Data = map[string][]byte{"key": []byte("new-key"), "scopes": []byte("send")}
	if err := f.k.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	f.wantCode("POST", base+"/sendMessage", "new-key", 200)
	f.wantCode("GET", base+"/status", "old-key", 401)
	// The token Secret rotates the same way.
	tok := &corev1.Secret{}
	if err := f.k.Get(context.Background(), client.ObjectKey{Namespace: f.ns, Name: "delta-token"}, tok); err != nil {
		t.Fatal(err)
	}
	tok.Data["token"] = []byte("delta-secret-2")
	if err := f.k.Update(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	f.wantCode("GET", base+"/status", "delta-secret-2", 200)
	f.wantCode("GET", base+"/status", "delta-secret", 401)
}

// Moving an instanceId from one instance to another re-routes /instance<id>/ within a second, and
// of two claimants the earlier one owns the id.
func TestRerouteOnCRChange(t *testing.T) {
	requireEnv(t)
	f := newFixture(t, gateway.Options{})
	f.instance("echo", "9001", "tok")
	f.wantCode("GET", "/instance9001/status", "tok", 200)
	f.instance("foxtrot", "", "tok")
	ctx := context.Background()
	first := &v1alpha1.MessengerInstance{}
	if err := f.k.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "echo"}, first); err != nil {
		t.Fatal(err)
	}
	first.Spec.InstanceID = ""
	if err := f.k.Update(ctx, first); err != nil {
		t.Fatal(err)
	}
	second := &v1alpha1.MessengerInstance{}
	if err := f.k.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "foxtrot"}, second); err != nil {
		t.Fatal(err)
	}
	second.Spec.InstanceID = "9001"
	if err := f.k.Update(ctx, second); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	testenv.EventuallyWithin(t, time.Second, "/instance9001 reaches foxtrot", func() error {
		var got seen
		f.call("GET", "/instance9001/status", "tok", nil, &got)
		if got.Upstream != "foxtrot" {
			return fmt.Errorf("reached %q", got.Upstream)
		}
		return nil
	})
	t.Logf("re-routed %v after the update", time.Since(changed))
	// A later claimant of foxtrot's id does not take it over.
	f.instance("golf", "9001", "tok")
	for range 5 {
		var got seen
		f.call("GET", "/instance9001/status", "tok", nil, &got)
		if got.Upstream != "foxtrot" {
			t.Fatalf("/instance9001 reached %q, want the earlier claimant foxtrot", got.Upstream)
		}
	}
}

// pattern is an endless reader that allocates nothing per read.
type pattern struct{ left int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.left))
	for i := range b[:n] {
		b[i] = 'A'
	}
	p.left -= int64(n)
	return n, nil
}

// A 64 MiB sendFile streams through: the whole process allocates a small fraction of the body.
func TestLargeBodyStreams(t *testing.T) {
	requireEnv(t)
	f := newFixture(t, gateway.Options{})
	f.instance("hotel", "", "tok")
	f.wantCode("GET", "/"+f.ns+"/hotel/status", "tok", 200)
	const size = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var got seen
	resp := f.call("POST", "/"+f.ns+"/hotel/sendFile", "tok", &pattern{left: size}, &got)
	runtime.ReadMemStats(&after)
	if resp.StatusCode != 200 || got.Bytes != size {
		t.Fatalf("sendFile = %d, instance got %d bytes, want %d", resp.StatusCode, got.Bytes, size)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB while proxying 64 MiB (client, gateway and upstream together)", alloc>>10)
	if alloc > 16<<20 {
		t.Errorf("allocated %d MiB for a 64 MiB body: the body is buffered, not streamed", alloc>>20)
	}
}

// The scope table: known paths, the admin default, media, the console and the HEAD fallback.
func TestRequiredScope(t *testing.T) {
	cases := []struct {
		method, path string
		want         gateway.Scope
	}{
		{"GET", "/status", gateway.ScopeRead},
		{"HEAD", "/status", gateway.ScopeRead},
		{"POST", "/status", gateway.ScopeAdmin},
		{"GET", "/media/abc.jpg", gateway.ScopeRead},
		{"GET", "/media/../settings", gateway.ScopeAdmin},
		{"POST", "/sendMessage", gateway.ScopeSend},
		{"GET", "/sendMessage", gateway.ScopeAdmin},
		{"POST", "/typing", gateway.ScopeSend},
		{"GET", "/webhook", gateway.ScopeAdmin},
		{"GET", "/unknown", gateway.ScopeAdmin},
		{"GET", "/events", gateway.ScopeRead},
		{"POST", "/events", gateway.ScopeAdmin},
		{"POST", "/checkPhone", gateway.ScopeRead},
		// The web console: viewing and signing in or out is read, its actions are admin.
		{"GET", "/console", gateway.ScopeRead},
		{"GET", "/console/", gateway.ScopeRead},
		{"HEAD", "/console/", gateway.ScopeRead},
		{"GET", "/console/state", gateway.ScopeRead},
		{"GET", "/console/qr.png", gateway.ScopeRead},
		{"GET", "/console/media/incoming/a.jpg", gateway.ScopeRead},
		{"POST", "/console/login", gateway.ScopeRead},
		{"POST", "/console/signout", gateway.ScopeRead},
		{"POST", "/console/action/reboot", gateway.ScopeAdmin},
		{"POST", "/console/action/logout", gateway.ScopeAdmin},
		{"POST", "/console/action/clear", gateway.ScopeAdmin},
		{"POST", "/console/anything", gateway.ScopeAdmin},
		{"GET", "/console/../settings", gateway.ScopeAdmin},
		{"GET", "/consoles", gateway.ScopeAdmin},
	}
	for _, c := range cases {
		if got := gateway.RequiredScope(c.method, c.path); got != c.want {
			t.Errorf("RequiredScope(%s %s) = %s, want %s", c.method, c.path, got, c.want)
		}
	}
	if got := gateway.ParseScopes(" Read , bogus,send"); got != gateway.ScopeSend {
		t.Errorf("ParseScopes = %s, want send", got)
	}
	if !strings.EqualFold(gateway.ScopeAdmin.String(), "admin") {
		t.Error("admin name")
	}
}

func requireEnv(t *testing.T) {
	t.Helper()
	testenv.Shared(t)
}
