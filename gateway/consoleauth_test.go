package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/messenger-operator/messenger-operator/gateway"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/console"
)

// A browser reaches the instance's console through the gateway with no token in any URL: the
// sign-in page and form pass without one, the session cookie the console sets is accepted at the
// edge for console pages only, the instance token is not added to those requests (the console
// decides itself), and a forged cookie is refused before the instance.
func TestConsoleThroughGateway(t *testing.T) {
	requireEnv(t)
	f := newFixture(t, gateway.Options{})
	f.instance("delta", "", "delta-secret")
	var (
		mu      sync.Mutex
		sawAuth []string
	)
	seenAuth := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), sawAuth...) }
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{})
	})
	con, err := console.New(console.Options{API: api, Engine: account.NoEngine{}, Token: "delta-secret"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, console.Prefix) {
			api.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		sawAuth = append(sawAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		con.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.up.mu.Lock()
	f.up.srv["delta"] = srv
	f.up.mu.Unlock()

	base := f.url + "/" + f.ns + "/delta"
	f.wantCode("GET", "/"+f.ns+"/delta/status", "delta-secret", 200)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := browser.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get("/console/"); resp.StatusCode != 200 {
		t.Fatalf("sign-in page through the gateway = %d, want 200", resp.StatusCode)
	}
	if resp := get("/console/state"); resp.StatusCode != 401 {
		t.Fatalf("console state without a session = %d, want 401 at the gateway", resp.StatusCode)
	}
	resp, err := browser.PostForm(base+"/console/login", url.Values{"token": {"delta-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Set-Cookie"), console.CookieName) {
		t.Fatalf("sign-in through the gateway = %d %v", resp.StatusCode, resp.Header)
	}
	if resp := get("/console/state"); resp.StatusCode != 200 {
		t.Fatalf("console state with the session = %d, want 200", resp.StatusCode)
	}
	if resp := get("/status"); resp.StatusCode != 401 {
		t.Fatalf("the console cookie opened the Chat API: %d, want 401", resp.StatusCode)
	}
	for i, a := range seenAuth() {
		if a != "" {
			t.Fatalf("console request %d reached the instance with Authorization %q", i, a)
		}
	}
	forged, _ := http.NewRequest("GET", base+"/console/state", nil)
	forged.AddCookie(&http.Cookie{Name: console.CookieName, Value: strings.Repeat("A", 75)})
	n := len(seenAuth())
	if resp, err := http.DefaultClient.Do(forged); err != nil || resp.StatusCode != 401 {
		t.Fatalf("forged cookie: %v %v", resp, err)
	}
	if len(seenAuth()) != n {
		t.Fatal("a forged cookie reached the instance")
	}
}
