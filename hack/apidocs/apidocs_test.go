package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

var root = filepath.Join("..", "..")

// TestReferenceIsFresh fails when docs/reference.md differs from what the current OpenAPI
// document and CRD give: run `make api-docs` and commit.
func TestReferenceIsFresh(t *testing.T) {
	want, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, OutputPath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run `make api-docs` and commit", OutputPath)
	}
}

// TestReferenceCoversEverything: every path of the served OpenAPI document and every spec and
// status field of the CRD appear in the reference.
func TestReferenceCoversEverything(t *testing.T) {
	out, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(out)
	for _, p := range []string{"`/sendMessage`", "`/status`", "`/messages`", "`/webhook`", "`/metrics`", "#### WebhookPayload"} {
		if !strings.Contains(doc, p) {
			t.Errorf("reference lacks %s", p)
		}
	}
	for _, f := range []string{"`webhook.secretRef.key`", "`storage.size`", "`deletionPolicy` | string | `Retain`", "`qrCode`", "`lastHandledLogout`",
		"core/v1 ResourceRequirements", "storage and database are mutually exclusive"} {
		if !strings.Contains(doc, f) {
			t.Errorf("reference lacks %s", f)
		}
	}
}

// TestServedDocumentIsTheSource: GET /openapi.json of a running instance server is exactly the
// file the reference is generated from.
func TestServedDocumentIsTheSource(t *testing.T) {
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	md, err := media.Open(t.TempDir(), "media-secret")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Options{Store: st, Engine: account.NoEngine{}, Media: md,
		Fetcher: fetch.NewFetcher(fetch.Guard{}, 1<<20), Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	served, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(root, OpenAPIPath))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(served, file) {
		t.Fatalf("GET /openapi.json (%d, %d bytes) differs from %s (%d bytes)", resp.StatusCode, len(served), OpenAPIPath, len(file))
	}
}
