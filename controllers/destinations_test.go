package controllers

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// TestBuildEnvWebhookNetworksAndPublicURL: the pod gets the operator's default networks plus the
// spec's, each once, and its Service URL as the public URL; without either list no variable.
func TestBuildEnvWebhookNetworksAndPublicURL(t *testing.T) {
	mi := testInstance()
	opts := BuildOptions{DefaultImage: "img:1", WebhookAllowNetworks: []string{"10.96.0.0/12", "10.244.0.0/16"}}
	env := envByName(typed[appsv1.StatefulSet](t, BuildStatefulSet(mi, opts)).Spec.Template.Spec.Containers[0])
	if got := env["MESSENGER_WEBHOOK_ALLOW_NETWORKS"].Value; got != "10.96.0.0/12,10.244.0.0/16" {
		t.Errorf("MESSENGER_WEBHOOK_ALLOW_NETWORKS = %q", got)
	}
	if got := env["MESSENGER_PUBLIC_URL"].Value; got != "http://alice.team-a.svc:8080" || got != Endpoint(mi) {
		t.Errorf("MESSENGER_PUBLIC_URL = %q, want the Service URL %q", got, Endpoint(mi))
	}

	mi.Spec.Webhook = &v1alpha1.WebhookSpec{URL: "http://receiver.tools.svc/hook",
		AllowNetworks: []string{"192.168.10.0/24", "10.96.0.0/12"}}
	env = envByName(typed[appsv1.StatefulSet](t, BuildStatefulSet(mi, opts)).Spec.Template.Spec.Containers[0])
	if got := env["MESSENGER_WEBHOOK_ALLOW_NETWORKS"].Value; got != "10.96.0.0/12,10.244.0.0/16,192.168.10.0/24" {
		t.Errorf("MESSENGER_WEBHOOK_ALLOW_NETWORKS with spec = %q", got)
	}
	if _, ok := env["MESSENGER_WEBHOOK_URL"]; ok {
		t.Error("the webhook URL went into the environment (the kube agent applies it live)")
	}

	env = envByName(typed[appsv1.StatefulSet](t, BuildStatefulSet(testInstance(), BuildOptions{DefaultImage: "img:1"})).
		Spec.Template.Spec.Containers[0])
	if _, ok := env["MESSENGER_WEBHOOK_ALLOW_NETWORKS"]; ok {
		t.Error("MESSENGER_WEBHOOK_ALLOW_NETWORKS set without any network")
	}
	if env["MESSENGER_PUBLIC_URL"].Value == "" {
		t.Error("MESSENGER_PUBLIC_URL not set")
	}
}
