package controllers

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
)

// toApplyConfiguration converts a typed API struct into its apply configuration. Both share the
// same JSON schema, so a JSON round trip is exact; it cannot fail for well-formed API structs, and
// returns nil if it ever did (the CRD schema already validated these fields).
func toApplyConfiguration[T any](in any) *T {
	raw, err := json.Marshal(in)
	if err != nil {
		return nil
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		return nil
	}
	return out
}

func tolerationAC(t *corev1.Toleration) *corev1ac.TolerationApplyConfiguration {
	return toApplyConfiguration[corev1ac.TolerationApplyConfiguration](t)
}

func affinityAC(a *corev1.Affinity) *corev1ac.AffinityApplyConfiguration {
	return toApplyConfiguration[corev1ac.AffinityApplyConfiguration](a)
}
