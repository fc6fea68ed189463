package tests

import (
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestKustomizeDefault builds config/default with kustomize (as `kubectl kustomize` does), checks
// it installs what the chart installs, and applies it with server-side dry run.
func TestKustomizeDefault(t *testing.T) {
	objs, err := kustomizeBuild(filepath.Join(repoRoot, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	chartObjs, err := renderChart("messenger", "messenger-operator-system", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(objs, "Namespace"), kinds(chartObjs, "Namespace"); !reflect.DeepEqual(got, want) {
		t.Errorf("config/default installs kinds %v, the chart %v", got, want)
	}
	if got, want := managerRules(t, objs), managerRules(t, chartObjs); !reflect.DeepEqual(got, want) {
		t.Errorf("operator ClusterRole rules differ:\nkustomize: %v\nchart:     %v", got, want)
	}
	kc, msg := operatorContainer(objs)
	if kc == nil {
		t.Fatal(msg)
	}
	cc, _ := operatorContainer(chartObjs)
	for _, k := range []string{"securityContext", "livenessProbe", "readinessProbe"} {
		if !reflect.DeepEqual(kc[k], cc[k]) {
			t.Errorf("operator container %s differs:\nkustomize: %v\nchart:     %v", k, kc[k], cc[k])
		}
	}
	requireEnv(t)
	applyDryRun(t, objs)
}

// TestKustomizePrometheus builds config/prometheus (alerts and dashboard ConfigMap) and applies it
// with server-side dry run.
func TestKustomizePrometheus(t *testing.T) {
	objs, err := kustomizeBuild(filepath.Join(repoRoot, "config", "prometheus"))
	if err != nil {
		t.Fatal(err)
	}
	if len(find(objs, "PrometheusRule", "")) != 1 || len(find(objs, "ConfigMap", "dashboard")) != 1 {
		t.Fatalf("config/prometheus gives %v", kinds(objs, ""))
	}
	requireEnv(t)
	ns := "monitoring"
	ensureNamespace(t, ns)
	for _, o := range objs {
		o.SetNamespace(ns)
	}
	applyDryRun(t, objs)
}

// kinds lists the distinct kinds of objs except skip.
func kinds(objs []*unstructured.Unstructured, skip string) []string {
	seen := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() != skip {
			seen[o.GetKind()] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// managerRules returns the rules of the operator's ClusterRole (the one not aggregated to users).
func managerRules(t *testing.T, objs []*unstructured.Unstructured) []any {
	t.Helper()
	for _, o := range find(objs, "ClusterRole", "-manager-role") {
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		return rules
	}
	for _, o := range find(objs, "ClusterRole", "-manager") {
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		return rules
	}
	t.Fatal("no operator ClusterRole")
	return nil
}
