package controllers

import (
	"strconv"

	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// NATSCredentialsDir is where the Secret of spec.events.nats.credentialsSecretRef is mounted in the
// instance container (files creds, or user and password, or token).
const NATSCredentialsDir = "/var/run/messenger/nats"

const natsCredentialsVolume = "nats-credentials"

// natsEnv maps spec.events.nats onto the instance's --nats-* flags (environment twins).
func natsEnv(mi *v1alpha1.MessengerInstance) []*corev1ac.EnvVarApplyConfiguration {
	if mi.Spec.Events == nil || mi.Spec.Events.NATS == nil {
		return nil
	}
	n := mi.Spec.Events.NATS
	value := func(name, v string) *corev1ac.EnvVarApplyConfiguration {
		return corev1ac.EnvVar().WithName(name).WithValue(v)
	}
	env := []*corev1ac.EnvVarApplyConfiguration{value("MESSENGER_NATS_URL", n.URL)}
	if n.SubjectPrefix != "" {
		env = append(env, value("MESSENGER_NATS_SUBJECT_PREFIX", n.SubjectPrefix))
	}
	if n.Stream != "" {
		env = append(env, value("MESSENGER_NATS_STREAM", n.Stream))
	}
	if n.CreateStream != nil {
		env = append(env, value("MESSENGER_NATS_CREATE_STREAM", strconv.FormatBool(*n.CreateStream)))
	}
	if n.CredentialsSecretRef != nil {
		env = append(env, value("MESSENGER_NATS_CREDENTIALS_DIR", NATSCredentialsDir))
	}
	return env
}

// withNATSCredentials adds the volume of the NATS credentials Secret to the pod, if there is one.
func withNATSCredentials(mi *v1alpha1.MessengerInstance, pod *corev1ac.PodSpecApplyConfiguration) {
	if mi.Spec.Events == nil || mi.Spec.Events.NATS == nil || mi.Spec.Events.NATS.CredentialsSecretRef == nil {
		return
	}
	pod.WithVolumes(corev1ac.Volume().WithName(natsCredentialsVolume).WithSecret(corev1ac.SecretVolumeSource().
		WithSecretName(mi.Spec.Events.NATS.CredentialsSecretRef.Name).WithDefaultMode(0o440)))
}
