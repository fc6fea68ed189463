package controllers

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// TestBuildNATSEnvAndCredentials: spec.events.nats becomes the --nats-* twins, and its Secret a
// read-only volume whose directory the instance is told; without it nothing of NATS is in the pod.
func TestBuildNATSEnvAndCredentials(t *testing.T) {
	mi := testInstance()
	opts := BuildOptions{DefaultImage: "img:1"}
	sts := typed[appsv1.StatefulSet](t, BuildStatefulSet(mi, opts))
	if env := envByName(sts.Spec.Template.Spec.Containers[0]); env["MESSENGER_NATS_URL"].Value != "" {
		t.Fatal("NATS env without spec.events.nats")
	}
	mi.Spec.Events = &v1alpha1.EventsSpec{NATS: &v1alpha1.NATSSpec{URL: "nats://nats.messaging.svc:4222",
		SubjectPrefix: "wa", Stream: "WA", CreateStream: ptr.To(false),
		CredentialsSecretRef: &v1alpha1.SecretKeyReference{Name: "alice-nats"}}}
	sts = typed[appsv1.StatefulSet](t, BuildStatefulSet(mi, opts))
	pod := sts.Spec.Template.Spec
	env := envByName(pod.Containers[0])
	for name, want := range map[string]string{"MESSENGER_NATS_URL": "nats://nats.messaging.svc:4222",
		"MESSENGER_NATS_SUBJECT_PREFIX": "wa", "MESSENGER_NATS_STREAM": "WA", "MESSENGER_NATS_CREATE_STREAM": "false",
		"MESSENGER_NATS_CREDENTIALS_DIR": NATSCredentialsDir} {
		if got := env[name].Value; got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	var mounted, volume bool
	for _, m := range pod.Containers[0].VolumeMounts {
		mounted = mounted || (m.MountPath == NATSCredentialsDir && m.ReadOnly)
	}
	for _, v := range pod.Volumes {
		volume = volume || (v.Secret != nil && v.Secret.SecretName == "alice-nats")
	}
	if !mounted || !volume {
		t.Errorf("credentials Secret mounted %v, volume %v; want both", mounted, volume)
	}
}
