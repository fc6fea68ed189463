package controllers

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/types"
)

func TestHTTPInstanceClientLogout(t *testing.T) {
	var gotMethod, gotPath, gotToken string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotMethod, gotPath, gotToken = r.Method, r.URL.Path, r.URL.Query().Get("token")
		if gotToken != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"bad token"}`))
			return
		}
		_, _ = w.Write([]byte(`{"success":true}`))
	}))
	defer srv.Close()
	c := HTTPInstanceClient{}
	if err := c.Logout(context.Background(), srv.URL, "s3cret"); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if gotMethod != http.MethodPost || gotPath != "/logout" {
		t.Errorf("request = %s %s", gotMethod, gotPath)
	}
	err := c.Logout(context.Background(), srv.URL, "wrong")
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("want 401 error, got %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestHTTPInstanceClientErrorHidesToken(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	err := HTTPInstanceClient{}.Logout(context.Background(), url, "s3cret")
	if err == nil {
		t.Fatal("want error from a closed server")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestMetricsCountByAccountStatus(t *testing.T) {
	m := NewMetrics()
	a, b := types.NamespacedName{Name: "a"}, types.NamespacedName{Name: "b"}
	m.observe(a, "", false)
	m.observe(b, "got qr code", false)
	m.observe(a, "authenticated", false)
	m.observe(a, "authenticated", false)
	if got := testutil.ToFloat64(m.Instances.WithLabelValues("authenticated")); got != 1 {
		t.Errorf("authenticated = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Instances.WithLabelValues("unknown")); got != 0 {
		t.Errorf("unknown = %v, want 0", got)
	}
	m.observe(b, "", true)
	if got := testutil.ToFloat64(m.Instances.WithLabelValues("got qr code")); got != 0 {
		t.Errorf("got qr code after delete = %v, want 0", got)
	}
	m.reconcileError(ReasonReconcileFailed)
	if got := testutil.ToFloat64(m.ReconcileErrors.WithLabelValues(ReasonReconcileFailed)); got != 1 {
		t.Errorf("reconcile errors = %v", got)
	}
}
