package tests

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// gatewayContainer returns the gateway container of the gateway Deployment.
func gatewayContainer(t *testing.T, objs []*unstructured.Unstructured) (*unstructured.Unstructured, map[string]any) {
	t.Helper()
	ds := find(objs, "Deployment", "-gateway")
	if len(ds) != 1 {
		t.Fatalf("%d gateway Deployments, want 1", len(ds))
	}
	cs, _, _ := unstructured.NestedSlice(ds[0].Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		if m, ok := c.(map[string]any); ok && m["name"] == "gateway" {
			return ds[0], m
		}
	}
	t.Fatal("the gateway Deployment has no gateway container")
	return nil, nil
}

func stringsOf(v any) []string {
	raw, _ := v.([]any)
	out := make([]string, 0, len(raw))
	for _, a := range raw {
		out = append(out, fmt.Sprint(a))
	}
	return out
}

// The chart installs the gateway by default: 2 replicas, its Service, a PodDisruptionBudget and
// read-only RBAC on MessengerInstances and Secrets; the Ingress renders when enabled, pointing at
// the Service. Both renderings apply with server-side dry run.
func TestChartGatewayAndIngress(t *testing.T) {
	values := map[string]any{"watchNamespaces": []any{"team-a"}, "gateway": map[string]any{
		"limits":  map[string]any{"keyRate": 5, "keyBurst": 10, "instanceRate": 0.5, "instanceBurst": 3},
		"ingress": map[string]any{"enabled": true, "className": "nginx", "hosts": []any{"chat.example.com"}, "tls": []any{map[string]any{"hosts": []any{"chat.example.com"}, "secretName": "chat-tls"}}},
	}}
	for _, tc := range []struct {
		name    string
		values  map[string]any
		ingress int
	}{{"defaults", nil, 0}, {"ingress", values, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := renderChart("messenger", "gw-"+tc.name, tc.values)
			if err != nil {
				t.Fatal(err)
			}
			d, c := gatewayContainer(t, objs)
			if r, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); r != 2 {
				t.Errorf("gateway replicas = %d, want 2", r)
			}
			args := stringsOf(c["args"])
			if args[0] != "gateway" || !slices.Contains(args, "--listen=:8080") || !slices.Contains(args, "--ops-listen=:8081") {
				t.Errorf("gateway args %v", args)
			}
			if tc.values != nil && (!slices.Contains(args, "--key-rate=5") || !slices.Contains(args, "--instance-rate=0.5") ||
				!slices.Contains(args, "--instance-burst=3") || !slices.Contains(args, "--namespaces=team-a")) {
				t.Errorf("gateway args %v lack the limits and namespaces of the values", args)
			}
			for _, k := range []string{"livenessProbe", "readinessProbe", "resources", "securityContext"} {
				if c[k] == nil {
					t.Errorf("gateway container lacks %s", k)
				}
			}
			for _, kind := range []string{"Service", "PodDisruptionBudget", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"} {
				if n := len(find(objs, kind, "-gateway")); n != 1 {
					t.Errorf("%d %s named *-gateway, want 1", n, kind)
				}
			}
			role := find(objs, "ClusterRole", "-gateway")[0]
			rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
			if s := fmt.Sprint(rules); !strings.Contains(s, "messengerinstances") || !strings.Contains(s, "secrets") || strings.Contains(s, "create") {
				t.Errorf("gateway ClusterRole rules %s: want read-only on messengerinstances and secrets", s)
			}
			ings := find(objs, "Ingress", "-gateway")
			if len(ings) != tc.ingress {
				t.Fatalf("%d gateway Ingresses, want %d", len(ings), tc.ingress)
			}
			if tc.ingress == 1 {
				ing := ings[0]
				rules, _, _ := unstructured.NestedSlice(ing.Object, "spec", "rules")
				s := fmt.Sprint(rules)
				if !strings.Contains(s, "chat.example.com") || !strings.Contains(s, "messenger-messenger-operator-gateway") || !strings.Contains(s, "name:http") {
					t.Errorf("Ingress rules %s: want chat.example.com to the gateway Service's http port", s)
				}
				if cls, _, _ := unstructured.NestedString(ing.Object, "spec", "ingressClassName"); cls != "nginx" {
					t.Errorf("ingressClassName %q", cls)
				}
			}
			requireEnv(t)
			ensureNamespace(t, "gw-"+tc.name)
			applyDryRun(t, objs)
		})
	}
}

// The HTTPRoute renders for a Gateway API Gateway (not applied: envtest has no Gateway API CRDs);
// the gateway can be turned off.
func TestChartGatewayHTTPRouteAndDisabled(t *testing.T) {
	objs, err := renderChart("messenger", "gw", map[string]any{"gateway": map[string]any{"httpRoute": map[string]any{
		"enabled": true, "parentRefs": []any{map[string]any{"name": "public", "namespace": "gateways"}}, "hostnames": []any{"chat.example.com"}}}})
	if err != nil {
		t.Fatal(err)
	}
	routes := find(objs, "HTTPRoute", "-gateway")
	if len(routes) != 1 {
		t.Fatalf("%d HTTPRoutes, want 1", len(routes))
	}
	if s := fmt.Sprint(routes[0].Object["spec"]); !strings.Contains(s, "public") || !strings.Contains(s, "port:80") {
		t.Errorf("HTTPRoute spec %s", s)
	}
	objs, err = renderChart("messenger", "gw", map[string]any{"gateway": map[string]any{"enabled": false}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if strings.HasSuffix(o.GetName(), "-gateway") {
			t.Errorf("gateway disabled, yet %s %s renders", o.GetKind(), o.GetName())
		}
	}
}

// Values that would give a broken front door are refused.
func TestChartGatewayRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"ingress without hosts", map[string]any{"ingress": map[string]any{"enabled": true}}, "hosts"},
		{"httpRoute without parents", map[string]any{"httpRoute": map[string]any{"enabled": true}}, "parentRefs"},
		{"negative rate", map[string]any{"limits": map[string]any{"keyRate": -1}}, "keyRate"},
		{"zero burst", map[string]any{"limits": map[string]any{"instanceBurst": 0}}, "instanceBurst"},
		{"one port for both", map[string]any{"opsPort": 8080}, "must differ"},
		{"unknown key", map[string]any{"replicas": 3}, "replicas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := renderChart("messenger", "default", map[string]any{"gateway": tc.values})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("values %v: error %v, want one naming %q", tc.values, err, tc.want)
			}
		})
	}
}

// config/default (kustomize) installs the gateway too, with its PodDisruptionBudget.
func TestKustomizeGateway(t *testing.T) {
	objs, err := kustomizeBuild(filepath.Join(repoRoot, "config", "default"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"Deployment", "Service", "PodDisruptionBudget", "ClusterRole", "ServiceAccount"} {
		if n := len(find(objs, kind, "-gateway")); n != 1 {
			t.Errorf("config/default: %d %s named *-gateway, want 1", n, kind)
		}
	}
}
