package tests

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// check inspects the manifests of one rendering and returns what is wrong ("" when fine).
type check func(objs []*unstructured.Unstructured) string

// chartCases are the value sets of the chart table; each is linted, rendered, checked and applied
// with server-side dry run.
var chartCases = []struct {
	name   string
	values map[string]any
	checks []check
}{
	{
		name:   "defaults",
		values: nil,
		checks: []check{
			count("CustomResourceDefinition", "", 1),
			annotation("CustomResourceDefinition", "helm.sh/resource-policy", "keep"),
			count("Deployment", "", 2), // the operator and the gateway
			count("Service", "-metrics", 1),
			count("ServiceMonitor", "", 0),
			count("PrometheusRule", "", 0),
			count("ClusterRole", "-manager", 1),
			count("Role", "-leader-election", 1),
			hasArgs("operator", "--leader-elect=true", "--metrics-bind-address=:8080", "--health-probe-bind-address=:8081",
				"--instance-image=ghcr.io/messenger-operator/messenger-operator:0.1.0",
				"--webhook-allow-networks=10.96.0.0/12,10.244.0.0/16"),
			lacksArgPrefix("--namespaces"),
			securityHardened,
			count("Deployment", "-sandbox", 0),
		},
	},
	{
		name:   "crds disabled",
		values: map[string]any{"crds": map[string]any{"enabled": false}},
		checks: []check{count("CustomResourceDefinition", "", 0)},
	},
	{
		name:   "crds not kept",
		values: map[string]any{"crds": map[string]any{"keep": false}},
		checks: []check{count("CustomResourceDefinition", "", 1), annotation("CustomResourceDefinition", "helm.sh/resource-policy", "")},
	},
	{
		name: "everything on",
		values: map[string]any{
			"fullnameOverride":     "mo",
			"replicaCount":         2,
			"image":                map[string]any{"repository": "registry.example.com/mo", "tag": "v9", "pullPolicy": "Always"},
			"instanceImage":        "registry.example.com/mo-instance:v9",
			"imagePullSecrets":     []any{map[string]any{"name": "regcred"}},
			"watchNamespaces":      []any{"team-a", "team-b"},
			"logoutGracePeriod":    "5m",
			"webhookAllowNetworks": []any{"172.20.0.0/16", "fd00:10:96::/112"},
			"extraArgs":            []any{"--max-concurrent-reconciles=8"},
			"nodeSelector":         map[string]any{"kubernetes.io/os": "linux"},
			"tolerations":          []any{map[string]any{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}},
			"metrics": map[string]any{
				"serviceMonitor": map[string]any{"enabled": true, "interval": "15s", "scrapeTimeout": "10s", "labels": map[string]any{"release": "kps"}},
				"prometheusRule": map[string]any{"enabled": true, "labels": map[string]any{"release": "kps"}},
			},
			"sandbox": map[string]any{"enabled": true, "persistence": map[string]any{"enabled": true, "size": "2Gi"}},
		},
		checks: []check{
			count("Deployment", "mo", 1),
			count("Deployment", "mo-sandbox", 1),
			count("Service", "mo-sandbox", 1),
			count("PersistentVolumeClaim", "mo-sandbox", 1),
			count("ServiceMonitor", "", 2),
			count("PrometheusRule", "", 1),
			hasArgs("--namespaces=team-a,team-b", "--logout-grace-period=5m", "--instance-image=registry.example.com/mo-instance:v9",
				"--max-concurrent-reconciles=8", "--webhook-allow-networks=172.20.0.0/16,fd00:10:96::/112"),
			alertsEscaped,
		},
	},
	{
		name:   "metrics disabled",
		values: map[string]any{"metrics": map[string]any{"enabled": false, "serviceMonitor": map[string]any{"enabled": true}}},
		checks: []check{count("Service", "-metrics", 0), hasArgs("--metrics-bind-address=0"), count("ServiceMonitor", "", 1)},
	},
	{
		name: "existing service account, no rbac",
		values: map[string]any{"rbac": map[string]any{"create": false},
			"serviceAccount": map[string]any{"create": false, "name": "platform-operator"}},
		checks: []check{count("ServiceAccount", "", 0), count("ClusterRole", "", 0), count("Role", "", 0),
			serviceAccount("platform-operator")},
	},
}

// TestChartTable lints (strict), renders, checks and dry-run applies every case of chartCases.
func TestChartTable(t *testing.T) {
	for i, tc := range chartCases {
		t.Run(tc.name, func(t *testing.T) {
			namespace := fmt.Sprintf("chart-case-%d", i)
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = namespace
			res := lint.Run([]string{chartDir}, tc.values)
			for _, m := range res.Messages {
				t.Logf("lint: %s", m)
			}
			if len(res.Errors) > 0 {
				t.Fatalf("helm lint --strict: %v", res.Errors)
			}
			objs, err := renderChart("messenger", namespace, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.checks {
				if msg := c(objs); msg != "" {
					t.Error(msg)
				}
			}
			for _, o := range objs {
				if o.GetNamespace() != "" && o.GetNamespace() != namespace {
					t.Errorf("%s %s in namespace %q, want the release namespace", o.GetKind(), o.GetName(), o.GetNamespace())
				}
			}
			requireEnv(t)
			ensureNamespace(t, namespace)
			applyDryRun(t, objs)
		})
	}
}

// TestChartRejectsBadValues checks that values.schema.json (and the template's own checks)
// refuse values that would give a broken install.
func TestChartRejectsBadValues(t *testing.T) {
	bad := []struct {
		name   string
		values map[string]any
		want   string
		// templateCheck: refused by a `fail` in a template, which helm lint reports as INFO only.
		templateCheck bool
	}{
		{"unknown key", map[string]any{"replicas": 1}, "replicas", false},
		{"negative replicas", map[string]any{"replicaCount": -1}, "replicaCount", false},
		{"replicas without leader election", map[string]any{"replicaCount": 2, "leaderElection": map[string]any{"enabled": false}}, "leaderElection", false},
		{"pull policy", map[string]any{"image": map[string]any{"repository": "x", "pullPolicy": "Sometimes"}}, "pullPolicy", false},
		{"empty repository", map[string]any{"image": map[string]any{"repository": "", "pullPolicy": "Always"}}, "repository", false},
		{"port out of range", map[string]any{"metrics": map[string]any{"port": 70000}}, "port", false},
		{"namespace not a DNS label", map[string]any{"watchNamespaces": []any{"Team_A"}}, "watchNamespaces", false},
		{"duration", map[string]any{"logoutGracePeriod": "soon"}, "logoutGracePeriod", false},
		{"boolean as string", map[string]any{"crds": map[string]any{"enabled": "yes"}}, "enabled", false},
		{"zero reconciles", map[string]any{"maxConcurrentReconciles": 0}, "maxConcurrentReconciles", false},
		{"quantity", map[string]any{"sandbox": map[string]any{"persistence": map[string]any{"size": "lots"}}}, "size", false},
		{"allow network not a CIDR", map[string]any{"webhookAllowNetworks": []any{"10.0.0.0"}}, "webhookAllowNetworks", false},
		{"allow network a hostname", map[string]any{"webhookAllowNetworks": []any{"svc.cluster.local/8"}}, "webhookAllowNetworks", false},
		{"extra arg not a flag", map[string]any{"extraArgs": []any{"rm -rf"}}, "extraArgs", false},
		{"metrics and probes on one port", map[string]any{"probes": map[string]any{"port": 8080}}, "must differ", true},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderChart("messenger", "default", tc.values)
			if err == nil {
				t.Fatalf("values %v were accepted", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error does not name %q: %v", tc.want, err)
			}
			if tc.templateCheck {
				return
			}
			lint := action.NewLint()
			lint.Strict = true
			if res := lint.Run([]string{chartDir}, tc.values); len(res.Errors) == 0 {
				t.Fatalf("helm lint accepted values %v", tc.values)
			}
		})
	}
}

// TestChartMetadata keeps the chart's identity in line with the product's names.
func TestChartMetadata(t *testing.T) {
	chrt, err := loadChart()
	if err != nil {
		t.Fatal(err)
	}
	if chrt.Metadata.Name != "messenger-operator" || chrt.Metadata.APIVersion != "v2" {
		t.Fatalf("chart metadata: %+v", chrt.Metadata)
	}
	if chrt.Schema == nil {
		t.Fatal("values.schema.json is not in the chart")
	}
	for _, f := range chrt.Files {
		if strings.HasPrefix(f.Name, "tests/") {
			t.Fatalf("the chart package would carry %s: .helmignore must exclude tests/", f.Name)
		}
	}
}

func count(kind, nameSuffix string, n int) check {
	return func(objs []*unstructured.Unstructured) string {
		if got := len(find(objs, kind, nameSuffix)); got != n {
			return fmt.Sprintf("%d %s named *%s, want %d", got, kind, nameSuffix, n)
		}
		return ""
	}
}

func annotation(kind, key, want string) check {
	return func(objs []*unstructured.Unstructured) string {
		for _, o := range find(objs, kind, "") {
			if got := o.GetAnnotations()[key]; got != want {
				return fmt.Sprintf("%s %s: annotation %s=%q, want %q", kind, o.GetName(), key, got, want)
			}
		}
		return ""
	}
}

// operatorContainer returns the manager container of the operator Deployment.
func operatorContainer(objs []*unstructured.Unstructured) (map[string]any, string) {
	for _, d := range find(objs, "Deployment", "") {
		if strings.HasSuffix(d.GetName(), "-sandbox") {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok && m["name"] == "manager" {
				return m, ""
			}
		}
	}
	return nil, "no operator Deployment with a manager container"
}

func args(objs []*unstructured.Unstructured) ([]string, string) {
	c, msg := operatorContainer(objs)
	if c == nil {
		return nil, msg
	}
	raw, _ := c["args"].([]any)
	out := make([]string, 0, len(raw))
	for _, a := range raw {
		out = append(out, fmt.Sprint(a))
	}
	return out, ""
}

func hasArgs(want ...string) check {
	return func(objs []*unstructured.Unstructured) string {
		got, msg := args(objs)
		if msg != "" {
			return msg
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				return fmt.Sprintf("operator args %v lack %q", got, w)
			}
		}
		return ""
	}
}

func lacksArgPrefix(prefix string) check {
	return func(objs []*unstructured.Unstructured) string {
		got, msg := args(objs)
		if msg != "" {
			return msg
		}
		for _, a := range got {
			if strings.HasPrefix(a, prefix) {
				return fmt.Sprintf("operator args have %q", a)
			}
		}
		return ""
	}
}

// securityHardened: non-root, no privilege escalation, read-only root, all capabilities dropped,
// probes and resources set.
func securityHardened(objs []*unstructured.Unstructured) string {
	c, msg := operatorContainer(objs)
	if c == nil {
		return msg
	}
	sc, _ := c["securityContext"].(map[string]any)
	if sc["allowPrivilegeEscalation"] != false || sc["readOnlyRootFilesystem"] != true {
		return fmt.Sprintf("container securityContext not hardened: %v", sc)
	}
	for _, k := range []string{"livenessProbe", "readinessProbe", "resources"} {
		if c[k] == nil {
			return "operator container lacks " + k
		}
	}
	d := find(objs, "Deployment", "")[0]
	if v, _, _ := unstructured.NestedBool(d.Object, "spec", "template", "spec", "securityContext", "runAsNonRoot"); !v {
		return "pod securityContext lacks runAsNonRoot"
	}
	return ""
}

func serviceAccount(name string) check {
	return func(objs []*unstructured.Unstructured) string {
		d := find(objs, "Deployment", "")
		if len(d) == 0 {
			return "no Deployment"
		}
		got, _, _ := unstructured.NestedString(d[0].Object, "spec", "template", "spec", "serviceAccountName")
		if got != name {
			return fmt.Sprintf("serviceAccountName %q, want %q", got, name)
		}
		return ""
	}
}

// alertsEscaped: Prometheus templates in alert annotations survive Helm's rendering.
func alertsEscaped(objs []*unstructured.Unstructured) string {
	for _, r := range find(objs, "PrometheusRule", "") {
		groups, _, _ := unstructured.NestedSlice(r.Object, "spec", "groups")
		if len(groups) == 0 {
			return "PrometheusRule without groups"
		}
		s := fmt.Sprint(groups)
		if !strings.Contains(s, "{{ $labels.namespace }}") {
			return "alert annotations lost their {{ $labels.namespace }} templates"
		}
	}
	return ""
}
