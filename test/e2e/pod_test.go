package e2e

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMapPath(t *testing.T) {
	mounts := map[string]string{"/data": "/h/claims/data-x", "/data/media": "/h/media", "/tmp": "/h/tmp"}
	for in, want := range map[string]string{
		"/data":             "/h/claims/data-x",
		"/data/db.sqlite":   "/h/claims/data-x/db.sqlite",
		"/data/media/a.jpg": "/h/media/a.jpg", // the longest mount wins
		"/database":         "/database",      // a prefix that is not a path component
		":8080":             ":8080",
		"/tmp":              "/h/tmp",
	} {
		if got := mapPath(in, mounts); got != want {
			t.Errorf("mapPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFieldValue(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "demo-0", Namespace: "ns", UID: "u1",
		Labels: map[string]string{"app.kubernetes.io/instance": "demo"}, Annotations: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{ServiceAccountName: "demo-instance"}}
	for path, want := range map[string]string{
		"metadata.name": "demo-0", "metadata.namespace": "ns", "metadata.uid": "u1",
		"metadata.labels['app.kubernetes.io/instance']": "demo", "metadata.annotations['a']": "b",
		"spec.serviceAccountName": "demo-instance", "spec.nodeName": NodeName, "status.podIP": "127.0.0.1",
	} {
		if got, err := fieldValue(pod, path); err != nil || got != want {
			t.Errorf("fieldValue(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := fieldValue(pod, "status.phase"); err == nil {
		t.Error("an unsupported fieldRef resolved without error")
	}
}

func TestServiceHost(t *testing.T) {
	for host, want := range map[string][2]string{
		"demo.ns.svc":                {"demo", "ns"},
		"demo.ns.svc.cluster.local":  {"demo", "ns"},
		"demo.ns.svc.cluster.local.": {"demo", "ns"},
	} {
		svc, ns, ok := serviceHost(host)
		if !ok || svc != want[0] || ns != want[1] {
			t.Errorf("serviceHost(%q) = %q, %q, %v", host, svc, ns, ok)
		}
	}
	for _, host := range []string{"127.0.0.1", "example.com", "a.b.c.d", "demo.ns"} {
		if _, _, ok := serviceHost(host); ok {
			t.Errorf("serviceHost(%q) took a non-Service host", host)
		}
	}
}

func TestRevisionFollowsTheTemplate(t *testing.T) {
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}
	sts.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": "1"}
	a := revision(sts)
	sts.Status.Replicas = 1 // status is not the template
	if revision(sts) != a {
		t.Error("revision changed without a template change")
	}
	sts.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] = "2"
	if revision(sts) == a {
		t.Error("revision did not change with the template")
	}
}
