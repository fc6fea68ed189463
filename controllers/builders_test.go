package controllers

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// typed converts an apply configuration into the typed object it describes.
func typed[T any](t *testing.T, ac any) *T {
	t.Helper()
	raw, err := json.Marshal(ac)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return out
}

func testInstance() *v1alpha1.MessengerInstance {
	return &v1alpha1.MessengerInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: "team-a", UID: "uid-1", Generation: 3},
	}
}

func envByName(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func TestBuildStatefulSetDefaults(t *testing.T) {
	mi := testInstance()
	sts := typed[appsv1.StatefulSet](t, BuildStatefulSet(mi, BuildOptions{DefaultImage: "img:1"}))

	if sts.Name != "alice" || sts.Namespace != "team-a" {
		t.Fatalf("name = %s/%s", sts.Namespace, sts.Name)
	}
	if got := *sts.Spec.Replicas; got != 1 {
		t.Errorf("replicas = %d, want 1", got)
	}
	if len(sts.OwnerReferences) != 1 || sts.OwnerReferences[0].UID != "uid-1" || !*sts.OwnerReferences[0].Controller {
		t.Errorf("owner references = %+v", sts.OwnerReferences)
	}
	for k, v := range map[string]string{LabelName: "messenger-instance", LabelInstance: "alice", LabelManagedBy: "messenger-operator"} {
		if sts.Labels[k] != v || sts.Spec.Template.Labels[k] != v {
			t.Errorf("label %s = %q / %q, want %q", k, sts.Labels[k], sts.Spec.Template.Labels[k], v)
		}
	}
	pod := sts.Spec.Template.Spec
	if pod.ServiceAccountName != "alice-instance" {
		t.Errorf("serviceAccountName = %q", pod.ServiceAccountName)
	}
	if pod.SecurityContext == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("pod security context not non-root: %+v", pod.SecurityContext)
	}
	c := pod.Containers[0]
	if c.Image != "img:1" || c.Command[0] != "messenger-operator" || c.Args[0] != "instance" {
		t.Errorf("container = %s %v %v", c.Image, c.Command, c.Args)
	}
	sc := c.SecurityContext
	if !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context = %+v", sc)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("probes/ports = %v %v %v", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path, c.Ports)
	}
	if c.ReadinessProbe.PeriodSeconds != 10 || c.LivenessProbe.PeriodSeconds != 10 {
		t.Errorf("probe periods = readiness %d s, liveness %d s; want 10 s each (density)",
			c.ReadinessProbe.PeriodSeconds, c.LivenessProbe.PeriodSeconds)
	}
	env := envByName(c)
	if e := env["MESSENGER_INSTANCE_NAME"]; e.ValueFrom == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.labels['app.kubernetes.io/instance']" {
		t.Errorf("MESSENGER_INSTANCE_NAME = %+v", e)
	}
	if e := env["MESSENGER_NAMESPACE"]; e.ValueFrom == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("MESSENGER_NAMESPACE = %+v", e)
	}
	if e := env["MESSENGER_TOKEN"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "alice-token" || e.ValueFrom.SecretKeyRef.Key != "token" {
		t.Errorf("MESSENGER_TOKEN = %+v", e)
	}
	for _, absent := range []string{"MESSENGER_DATABASE", "MESSENGER_WEBHOOK_URL", "MESSENGER_PROXY", "MESSENGER_NETWORK_URL"} {
		if _, ok := env[absent]; ok {
			t.Errorf("%s set without spec", absent)
		}
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("volumeClaimTemplates = %d, want 1", len(sts.Spec.VolumeClaimTemplates))
	}
	vct := sts.Spec.VolumeClaimTemplates[0]
	if q := vct.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "1Gi" || vct.Name != "data" {
		t.Errorf("claim %s size %s", vct.Name, q.String())
	}
	if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("whenDeleted = %s, want Retain", p.WhenDeleted)
	}
	if _, ok := sts.Spec.Template.Annotations[RestartedAtAnnotation]; ok {
		t.Error("restartedAt set without a reboot request")
	}
}

func TestBuildStatefulSetFromSpec(t *testing.T) {
	mi := testInstance()
	size := resource.MustParse("5Gi")
	class := "fast"
	mi.Spec = v1alpha1.MessengerInstanceSpec{
		Image:          "custom:2",
		Suspend:        true,
		Webhook:        &v1alpha1.WebhookSpec{URL: "https://hooks.example/x", SecretRef: &v1alpha1.SecretKeyReference{Name: "wh"}, AckNotifications: true},
		TokenSecretRef: &v1alpha1.SecretKeyReference{Name: "mytok", Key: "k"},
		Storage:        &v1alpha1.StorageSpec{Size: &size, StorageClassName: &class},
		NetworkURL:     "http://sandbox:8900",
		Proxy:          &v1alpha1.ProxySpec{SecretRef: v1alpha1.SecretKeyReference{Name: "px"}},
		Resources:      &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}},
		NodeSelector:   map[string]string{"zone": "a"},
		Tolerations:    []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "msg", Effect: corev1.TaintEffectNoSchedule}},
		Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "k", Operator: corev1.NodeSelectorOpIn, Values: []string{"v"}}}}},
		}}},
		DeletionPolicy: v1alpha1.DeletionPolicyLogout,
	}
	mi.Annotations = map[string]string{v1alpha1.RebootAnnotation: "r1"}
	sts := typed[appsv1.StatefulSet](t, BuildStatefulSet(mi, BuildOptions{DefaultImage: "img:1"}))
	pod := sts.Spec.Template.Spec
	c := pod.Containers[0]

	if *sts.Spec.Replicas != 0 {
		t.Errorf("suspended replicas = %d, want 0", *sts.Spec.Replicas)
	}
	if c.Image != "custom:2" {
		t.Errorf("image = %s", c.Image)
	}
	env := envByName(c)
	checks := map[string]func(corev1.EnvVar) bool{
		"MESSENGER_TOKEN": func(e corev1.EnvVar) bool {
			return e.ValueFrom.SecretKeyRef.Name == "mytok" && e.ValueFrom.SecretKeyRef.Key == "k"
		},
		"MESSENGER_WEBHOOK_SECRET": func(e corev1.EnvVar) bool {
			return e.ValueFrom.SecretKeyRef.Name == "wh" && e.ValueFrom.SecretKeyRef.Key == "secret"
		},
		"MESSENGER_NETWORK_URL": func(e corev1.EnvVar) bool { return e.Value == "http://sandbox:8900" },
		"MESSENGER_PROXY": func(e corev1.EnvVar) bool {
			return e.ValueFrom.SecretKeyRef.Name == "px" && e.ValueFrom.SecretKeyRef.Key == "url"
		},
	}
	// The kube agent applies webhook.url and ackNotifications live: a change must not roll the pod.
	for _, live := range []string{"MESSENGER_WEBHOOK_URL", "MESSENGER_ACK_NOTIFICATIONS"} {
		if e, found := env[live]; found {
			t.Errorf("%s in the pod environment (%+v): changing it would restart the pod", live, e)
		}
	}
	for name, ok := range checks {
		e, found := env[name]
		if !found || !ok(e) {
			t.Errorf("%s = %+v (found %v)", name, e, found)
		}
	}
	if q := c.Resources.Limits[corev1.ResourceMemory]; q.String() != "256Mi" {
		t.Errorf("memory limit = %s", q.String())
	}
	if pod.NodeSelector["zone"] != "a" || len(pod.Tolerations) != 1 || pod.Tolerations[0].Value != "msg" {
		t.Errorf("scheduling = %v %v", pod.NodeSelector, pod.Tolerations)
	}
	if pod.Affinity == nil || pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values[0] != "v" {
		t.Errorf("affinity = %+v", pod.Affinity)
	}
	vct := sts.Spec.VolumeClaimTemplates[0]
	if q := vct.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "5Gi" || *vct.Spec.StorageClassName != "fast" {
		t.Errorf("claim size %s class %v", q.String(), vct.Spec.StorageClassName)
	}
	if sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		t.Error("Logout policy must delete the volume with the StatefulSet")
	}
	if sts.Spec.Template.Annotations[RestartedAtAnnotation] != "r1" {
		t.Errorf("restartedAt = %q, want r1", sts.Spec.Template.Annotations[RestartedAtAnnotation])
	}
}

func TestBuildStatefulSetDatabaseHasNoClaim(t *testing.T) {
	mi := testInstance()
	mi.Spec.Database = &v1alpha1.DatabaseSpec{SecretRef: v1alpha1.SecretKeyReference{Name: "pg"}}
	sts := typed[appsv1.StatefulSet](t, BuildStatefulSet(mi, BuildOptions{}))
	if len(sts.Spec.VolumeClaimTemplates) != 0 {
		t.Errorf("volumeClaimTemplates with database: %d", len(sts.Spec.VolumeClaimTemplates))
	}
	e := envByName(sts.Spec.Template.Spec.Containers[0])["MESSENGER_DATABASE"]
	if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "pg" || e.ValueFrom.SecretKeyRef.Key != "dsn" {
		t.Errorf("MESSENGER_DATABASE = %+v", e)
	}
	found := false
	for _, v := range sts.Spec.Template.Spec.Volumes {
		found = found || v.Name == "data" && v.EmptyDir != nil
	}
	if !found {
		t.Error("data volume must be an emptyDir when the session is in PostgreSQL")
	}
}

func TestRebootValueSurvivesAnnotationRemoval(t *testing.T) {
	mi := testInstance()
	mi.Status.LastHandledReboot = "r1"
	sts := typed[appsv1.StatefulSet](t, BuildStatefulSet(mi, BuildOptions{}))
	if got := sts.Spec.Template.Annotations[RestartedAtAnnotation]; got != "r1" {
		t.Errorf("restartedAt after annotation removal = %q, want r1 (no extra restart)", got)
	}
}

func TestBuildServiceAndRBAC(t *testing.T) {
	mi := testInstance()
	svc := typed[corev1.Service](t, BuildService(mi))
	if svc.Spec.Ports[0].Port != 8080 || svc.Spec.Selector[LabelInstance] != "alice" || svc.OwnerReferences[0].Name != "alice" {
		t.Errorf("service = %+v", svc.Spec)
	}
	role := typed[rbacv1.Role](t, BuildRole(mi))
	for _, r := range role.Rules {
		if r.Resources[0] == "events" {
			continue
		}
		want := "alice"
		if r.Resources[0] == "leases" {
			want = "alice-lease"
		}
		if len(r.ResourceNames) != 1 || r.ResourceNames[0] != want {
			t.Errorf("rule %v resourceNames = %v, want [%s]", r.Resources, r.ResourceNames, want)
		}
	}
	rb := typed[rbacv1.RoleBinding](t, BuildRoleBinding(mi))
	if rb.RoleRef.Name != "alice-instance" || rb.Subjects[0].Name != "alice-instance" || rb.Subjects[0].Namespace != "team-a" {
		t.Errorf("rolebinding = %+v %+v", rb.RoleRef, rb.Subjects)
	}
	sec := BuildTokenSecret(mi, "tok")
	if string(sec.Data["token"]) != "tok" || sec.Name != "alice-token" || !*sec.Immutable {
		t.Errorf("token secret = %+v", sec)
	}
	if Endpoint(mi) != "http://alice.team-a.svc:8080" {
		t.Errorf("endpoint = %s", Endpoint(mi))
	}
}
