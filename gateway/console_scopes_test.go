package gateway_test

import (
	"testing"

	"github.com/messenger-operator/messenger-operator/gateway"
)

// The instance's web console: viewing and signing in or out is read, its actions are admin.
func TestRequiredScopeConsole(t *testing.T) {
	cases := []struct {
		method, path string
		want         gateway.Scope
	}{
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
}
