package controllers

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// The cached StatefulSet keeps what workloadReady reads (generation, replicas, status) and
// drops the template, claim templates and managed fields.
func TestTransformStatefulSetForCache(t *testing.T) {
	mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", Generation: 3}}
	raw := typed[appsv1.StatefulSet](t, BuildStatefulSet(mi, BuildOptions{DefaultImage: "img"}))
	sts := raw.DeepCopy()
	sts.Generation = 4
	sts.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "x"}}
	sts.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{}}
	sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: 4, Replicas: 1, ReadyReplicas: 1, UpdatedReplicas: 1}
	if len(sts.Spec.Template.Spec.Containers) == 0 {
		t.Fatal("builder made no containers")
	}
	out, err := TransformStatefulSetForCache(sts)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*appsv1.StatefulSet)
	if len(got.Spec.Template.Spec.Containers) != 0 || got.Spec.VolumeClaimTemplates != nil || got.ManagedFields != nil {
		t.Errorf("template, claims or managed fields kept: %+v", got.Spec)
	}
	if got.Generation != 4 || got.Status.ReadyReplicas != 1 || got.Spec.Replicas == nil || *got.Spec.Replicas != ptr.Deref(raw.Spec.Replicas, 0) {
		t.Errorf("lost what workloadReady reads: %+v", got)
	}
	if ok, msg := workloadReady(got, false); !ok {
		t.Errorf("workloadReady on the cached copy: %s", msg)
	}
	if other, _ := TransformStatefulSetForCache("not a StatefulSet"); other != "not a StatefulSet" {
		t.Error("other objects must pass through")
	}
}
