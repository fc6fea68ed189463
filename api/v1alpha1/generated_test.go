package v1alpha1_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedFilesAreFresh regenerates deepcopy code, apply configurations, the CRD and the
// operator's ClusterRole with `make generate manifests` in a copy of the sources, and fails when
// any generated file in the repository differs (run `make manifests generate` and commit).
func TestGeneratedFilesAreFresh(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	for _, p := range []string{"go.mod", "go.sum", "Makefile", "hack/boilerplate.go.txt", "api", "controllers"} {
		copyTree(t, filepath.Join(root, p), filepath.Join(tmp, p))
	}
	// Generated outputs start empty in the copy, so stale extra files show up as well.
	for _, p := range []string{"api/v1alpha1/zz_generated.deepcopy.go", "api/v1alpha1/applyconfiguration"} {
		if err := os.RemoveAll(filepath.Join(tmp, p)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("make", "-s", "generate", "manifests")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make generate manifests: %v\n%s", err, out)
	}
	for _, dir := range []string{"api", "config/crd/bases", "config/rbac/role.yaml"} {
		compareTrees(t, filepath.Join(tmp, dir), filepath.Join(root, dir))
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	if err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
}

// compareTrees fails for every generated file under fresh that is missing or different in repo.
func compareTrees(t *testing.T, fresh, repo string) {
	t.Helper()
	err := filepath.WalkDir(fresh, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(fresh, p)
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(repo, rel))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale or missing: run `make manifests generate` and commit the result", filepath.Join(repo, rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("comparing %s: %v", fresh, err)
	}
}
