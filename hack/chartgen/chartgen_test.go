package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChartIsFresh fails when the chart's copies of config/ (CRDs, ClusterRole, alerts) differ
// from what chartgen makes of the current sources: run `make chart-crds` and commit.
func TestChartIsFresh(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %v (run `make chart-crds`)", p, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make chart-crds` and commit", p)
		}
	}
	existing, _ := filepath.Glob(filepath.Join(root, crdDir, "*.yaml"))
	for _, p := range existing {
		rel, _ := filepath.Rel(root, p)
		if _, ok := files[rel]; !ok {
			t.Errorf("%s has no source in config/crd/bases: run `make chart-crds`", rel)
		}
	}
}

// TestStaleCopyIsDetected changes a CRD source in a copy of the tree and checks that the output
// changes with it, and that Write removes templates of deleted CRDs.
func TestStaleCopyIsDetected(t *testing.T) {
	root := filepath.Join("..", "..")
	tmp := t.TempDir()
	for _, p := range []string{"config/rbac/role.yaml", "config/prometheus/alerts.yaml"} {
		copyFile(t, filepath.Join(root, p), filepath.Join(tmp, p))
	}
	crd := "config/crd/bases/a.yaml"
	src := "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  annotations:\n    x: y\n  name: as.example.com\nspec:\n  description: '{{ not a template }}'\n"
	writeFile(t, filepath.Join(tmp, crd), src)
	if err := Write(tmp); err != nil {
		t.Fatal(err)
	}
	first, err := Generate(tmp)
	if err != nil {
		t.Fatal(err)
	}
	out := string(first[filepath.Join(crdDir, "a.yaml")])
	for _, want := range []string{"{{- if .Values.crds.enabled }}", "helm.sh/resource-policy: keep", `{{ "{{" }} not a template }}`} {
		if !strings.Contains(out, want) {
			t.Errorf("CRD template lacks %q:\n%s", want, out)
		}
	}
	writeFile(t, filepath.Join(tmp, crd), strings.Replace(src, "x: y", "x: z", 1))
	second, err := Generate(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first[filepath.Join(crdDir, "a.yaml")], second[filepath.Join(crdDir, "a.yaml")]) {
		t.Fatal("a changed source gave the same template")
	}
	if err := os.Rename(filepath.Join(tmp, crd), filepath.Join(tmp, "config/crd/bases/b.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := Write(tmp); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tmp, crdDir, "a.yaml")); !os.IsNotExist(err) {
		t.Fatalf("template of a deleted CRD survived: %v", err)
	}
	writeFile(t, filepath.Join(tmp, "config/crd/bases/b.yaml"), "kind: CustomResourceDefinition\n")
	if _, err := Generate(tmp); err == nil {
		t.Fatal("a CRD without metadata.annotations was accepted")
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b))
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
