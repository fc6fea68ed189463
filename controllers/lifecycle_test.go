package controllers_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	v1alpha1ac "github.com/messenger-operator/messenger-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/instance/agent"
)

func createInstance(t *testing.T, ns, name string, mutate func(*v1alpha1.MessengerInstance)) *v1alpha1.MessengerInstance {
	t.Helper()
	mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if mutate != nil {
		mutate(mi)
	}
	if err := k8s.Create(context.Background(), mi); err != nil {
		t.Fatalf("creating MessengerInstance: %v", err)
	}
	return mi
}

func getInstance(t *testing.T, ns, name string) *v1alpha1.MessengerInstance {
	t.Helper()
	mi := &v1alpha1.MessengerInstance{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, mi); err != nil {
		t.Fatalf("getting MessengerInstance: %v", err)
	}
	return mi
}

// waitReady waits until the instance's Ready condition has the given reason at the current
// generation, and returns the instance.
func waitReady(t *testing.T, ns, name, reason string) *v1alpha1.MessengerInstance {
	t.Helper()
	var mi *v1alpha1.MessengerInstance
	eventually(t, "Ready reason "+reason, func() error {
		mi = getInstance(t, ns, name)
		c := meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionReady)
		if c == nil || c.Reason != reason || mi.Status.ObservedGeneration != mi.Generation {
			return fmt.Errorf("Ready = %+v, observedGeneration %d/%d", c, mi.Status.ObservedGeneration, mi.Generation)
		}
		return nil
	})
	return mi
}

// simulatePod plays the StatefulSet controller and kubelet, which envtest lacks: the StatefulSet's
// status reports its current template rolled out with `ready` ready pods.
func simulatePod(t *testing.T, ns, name string, replicas, ready int32) {
	t.Helper()
	eventually(t, "patch StatefulSet status", func() error {
		sts := &appsv1.StatefulSet{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, sts); err != nil {
			return err
		}
		sts.Status = appsv1.StatefulSetStatus{
			ObservedGeneration: sts.Generation, Replicas: replicas, ReadyReplicas: ready, AvailableReplicas: ready,
			CurrentReplicas: replicas, UpdatedReplicas: replicas,
			CurrentRevision: fmt.Sprintf("rev-%d", sts.Generation), UpdateRevision: fmt.Sprintf("rev-%d", sts.Generation),
		}
		return k8s.Status().Update(context.Background(), sts)
	})
}

// simulateAgent writes the account fields as the instance's kube agent does: server-side apply on
// the status subresource under its own field manager.
func simulateAgent(t *testing.T, c client.Client, ns, name, accountStatus string, authenticated bool) error {
	t.Helper()
	cond := metav1.ConditionFalse
	if authenticated {
		cond = metav1.ConditionTrue
	}
	ac := v1alpha1ac.MessengerInstance(name, ns).WithStatus(v1alpha1ac.MessengerInstanceStatus().
		WithAccountStatus(accountStatus).
		WithPhone("4915112345678").
		WithQueueLength(2).
		WithConditions(metav1ac.Condition().WithType(v1alpha1.ConditionAuthenticated).WithStatus(cond).
			WithReason("Agent").WithMessage("from the agent").WithLastTransitionTime(metav1.Now())))
	return c.Status().Apply(context.Background(), ac, client.FieldOwner(agent.FieldManager), client.ForceOwnership)
}

func checkOwned(t *testing.T, obj client.Object, mi *v1alpha1.MessengerInstance) {
	t.Helper()
	refs := obj.GetOwnerReferences()
	if len(refs) != 1 || refs[0].UID != mi.UID || refs[0].Kind != "MessengerInstance" || refs[0].Controller == nil || !*refs[0].Controller {
		t.Errorf("%T %s: owner references %+v, want controller ref to %s", obj, obj.GetName(), refs, mi.UID)
	}
	if obj.GetLabels()[controllers.LabelManagedBy] != controllers.LabelManagedByValue {
		t.Errorf("%T %s: labels %v", obj, obj.GetName(), obj.GetLabels())
	}
}

func TestLifecycleConditionsAndKstatus(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	createInstance(t, ns, "alice", nil)

	// First reconcile: children exist, Ready=False/Reconciling=True, kstatus InProgress.
	mi := waitReady(t, ns, "alice", controllers.ReasonProgressing)
	if !meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionReconciling) ||
		meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionStalled) {
		t.Errorf("conditions after first reconcile: %+v", mi.Status.Conditions)
	}
	if got := kstatusOf(t, mi); got != status.InProgressStatus {
		t.Errorf("kstatus while progressing = %s, want InProgress", got)
	}
	if mi.Status.Endpoint != "http://alice."+ns+".svc:8080" || mi.Status.TokenSecretName != "alice-token" {
		t.Errorf("endpoint %q tokenSecretName %q", mi.Status.Endpoint, mi.Status.TokenSecretName)
	}
	children := []client.Object{&appsv1.StatefulSet{}, &corev1.Service{}, &corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}}
	for _, obj := range children {
		name := "alice"
		if _, ok := obj.(*corev1.Service); !ok {
			if _, ok := obj.(*appsv1.StatefulSet); !ok {
				name = "alice-instance"
			}
		}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
			t.Fatalf("child %T %s: %v", obj, name, err)
		}
		checkOwned(t, obj, mi)
	}
	secret := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "alice-token"}, secret); err != nil {
		t.Fatalf("token Secret: %v", err)
	}
	checkOwned(t, secret, mi)
	if len(secret.Data["token"]) < 32 {
		t.Errorf("generated token too short: %d bytes", len(secret.Data["token"]))
	}
	lease := &coordinationv1.Lease{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "alice-lease"}, lease); err != nil {
		t.Fatalf("Lease: %v", err)
	}
	checkOwned(t, lease, mi)

	// The pod becomes ready: still not Ready until the account is authenticated.
	simulatePod(t, ns, "alice", 1, 1)
	mi = waitReady(t, ns, "alice", controllers.ReasonAwaitingAuthentication)
	if got := kstatusOf(t, mi); got != status.InProgressStatus {
		t.Errorf("kstatus awaiting QR = %s, want InProgress", got)
	}
	if err := simulateAgent(t, k8s, ns, "alice", "got qr code", false); err != nil {
		t.Fatalf("agent status: %v", err)
	}

	// The agent reports an authenticated account: Ready=True and kstatus Current.
	if err := simulateAgent(t, k8s, ns, "alice", "authenticated", true); err != nil {
		t.Fatalf("agent status: %v", err)
	}
	mi = waitReady(t, ns, "alice", controllers.ReasonAuthenticated)
	if got := kstatusOf(t, mi); got != status.CurrentStatus {
		t.Errorf("kstatus authenticated = %s, want Current", got)
	}
	// The operator's status writes left the agent's fields alone.
	if mi.Status.AccountStatus != "authenticated" || mi.Status.Phone != "4915112345678" || mi.Status.QueueLength != 2 ||
		!meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionAuthenticated) {
		t.Errorf("agent fields lost: %+v", mi.Status)
	}

	// Events record the transitions, with the condition reason as event reason.
	eventually(t, "Authenticated event", func() error {
		evs := &eventsv1.EventList{}
		if err := k8s.List(context.Background(), evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Regarding.Name == "alice" && e.Reason == controllers.ReasonAuthenticated {
				return nil
			}
		}
		return fmt.Errorf("no Authenticated event among %d", len(evs.Items))
	})

	// The token Secret is never overwritten, even when reconciles run again.
	before := string(secret.Data["token"])
	mi.Annotations = map[string]string{"example.com/touch": "1"}
	if err := k8s.Update(context.Background(), mi); err != nil {
		t.Fatalf("touching instance: %v", err)
	}
	waitReady(t, ns, "alice", controllers.ReasonAuthenticated)
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "alice-token"}, secret); err != nil {
		t.Fatal(err)
	}
	if string(secret.Data["token"]) != before {
		t.Error("token Secret was overwritten")
	}
	if got := getInstance(t, ns, "alice").Annotations["example.com/touch"]; got != "1" {
		t.Errorf("user annotation removed: %q", got)
	}
}

func TestRebootHandledOncePerValue(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	createInstance(t, ns, "bob", nil)
	waitReady(t, ns, "bob", controllers.ReasonProgressing)
	simulatePod(t, ns, "bob", 1, 1)
	waitReady(t, ns, "bob", controllers.ReasonAwaitingAuthentication)

	stsGen := func() (int64, string) {
		sts := &appsv1.StatefulSet{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "bob"}, sts); err != nil {
			t.Fatal(err)
		}
		return sts.Generation, sts.Spec.Template.Annotations[controllers.RestartedAtAnnotation]
	}
	setAnnotations := func(a map[string]string) {
		t.Helper()
		eventually(t, "update annotations", func() error {
			mi := getInstance(t, ns, "bob")
			mi.Annotations = a
			return k8s.Update(context.Background(), mi)
		})
	}
	waitHandled := func(v string) {
		t.Helper()
		eventually(t, "lastHandledReboot "+v, func() error {
			if got := getInstance(t, ns, "bob").Status.LastHandledReboot; got != v {
				return fmt.Errorf("lastHandledReboot = %q", got)
			}
			return nil
		})
	}
	gen0, _ := stsGen()

	setAnnotations(map[string]string{v1alpha1.RebootAnnotation: "2026-11-25T10:00:00Z"})
	waitHandled("2026-11-25T10:00:00Z")
	gen1, restarted := stsGen()
	if gen1 != gen0+1 || restarted != "2026-11-25T10:00:00Z" {
		t.Fatalf("after first reboot: generation %d→%d, restartedAt %q", gen0, gen1, restarted)
	}

	// Another change that reconciles (a user annotation) must not restart again.
	setAnnotations(map[string]string{v1alpha1.RebootAnnotation: "2026-11-25T10:00:00Z", "example.com/x": "y"})
	eventually(t, "reconciled after touch", func() error {
		mi := getInstance(t, ns, "bob")
		if mi.Annotations["example.com/x"] != "y" {
			return errors.New("annotation not visible yet")
		}
		return nil
	})
	simulatePod(t, ns, "bob", 1, 1)
	waitReady(t, ns, "bob", controllers.ReasonAwaitingAuthentication)
	if gen, _ := stsGen(); gen != gen1 {
		t.Errorf("same reboot value restarted again: generation %d→%d", gen1, gen)
	}

	// Removing the annotation does not restart either.
	setAnnotations(map[string]string{"example.com/x": "y"})
	simulatePod(t, ns, "bob", 1, 1)
	waitReady(t, ns, "bob", controllers.ReasonAwaitingAuthentication)
	if gen, r := stsGen(); gen != gen1 || r != "2026-11-25T10:00:00Z" {
		t.Errorf("annotation removal changed the template: generation %d→%d, restartedAt %q", gen1, gen, r)
	}

	// A new value restarts once more.
	setAnnotations(map[string]string{v1alpha1.RebootAnnotation: "second", "example.com/x": "y"})
	waitHandled("second")
	if gen, r := stsGen(); gen != gen1+1 || r != "second" {
		t.Errorf("second reboot: generation %d→%d, restartedAt %q", gen1, gen, r)
	}
}

func TestSuspendScalesToZero(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	createInstance(t, ns, "carol", nil)
	waitReady(t, ns, "carol", controllers.ReasonProgressing)
	simulatePod(t, ns, "carol", 1, 1)
	waitReady(t, ns, "carol", controllers.ReasonAwaitingAuthentication)

	eventually(t, "suspend", func() error {
		mi := getInstance(t, ns, "carol")
		mi.Spec.Suspend = true
		return k8s.Update(context.Background(), mi)
	})
	mi := waitReady(t, ns, "carol", controllers.ReasonScalingDown)
	if got := kstatusOf(t, mi); got != status.InProgressStatus {
		t.Errorf("kstatus while scaling down = %s", got)
	}
	sts := &appsv1.StatefulSet{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "carol"}, sts); err != nil {
		t.Fatal(err)
	}
	if *sts.Spec.Replicas != 0 {
		t.Fatalf("replicas = %d, want 0", *sts.Spec.Replicas)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("suspend must keep the volume: %+v", sts.Spec.PersistentVolumeClaimRetentionPolicy)
	}
	simulatePod(t, ns, "carol", 0, 0)
	mi = waitReady(t, ns, "carol", controllers.ReasonSuspended)
	if got := kstatusOf(t, mi); got != status.CurrentStatus {
		t.Errorf("kstatus suspended = %s, want Current", got)
	}

	eventually(t, "resume", func() error {
		mi := getInstance(t, ns, "carol")
		mi.Spec.Suspend = false
		return k8s.Update(context.Background(), mi)
	})
	waitReady(t, ns, "carol", controllers.ReasonProgressing)
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "carol"}, sts); err != nil {
		t.Fatal(err)
	}
	if *sts.Spec.Replicas != 1 {
		t.Errorf("replicas after resume = %d", *sts.Spec.Replicas)
	}
}

func TestDriftRepaired(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	createInstance(t, ns, "dave", nil)
	waitReady(t, ns, "dave", controllers.ReasonProgressing)
	ctx := context.Background()
	key := client.ObjectKey{Namespace: ns, Name: "dave"}

	// Someone scales the StatefulSet to 3 and swaps the image; another edits the Service port.
	eventually(t, "tamper StatefulSet", func() error {
		sts := &appsv1.StatefulSet{}
		if err := k8s.Get(ctx, key, sts); err != nil {
			return err
		}
		three := int32(3)
		sts.Spec.Replicas = &three
		sts.Spec.Template.Spec.Containers[0].Image = "evil:latest"
		return k8s.Update(ctx, sts, client.FieldOwner("intruder"))
	})
	eventually(t, "tamper Service", func() error {
		svc := &corev1.Service{}
		if err := k8s.Get(ctx, key, svc); err != nil {
			return err
		}
		svc.Spec.Ports[0].Port = 9999
		return k8s.Update(ctx, svc, client.FieldOwner("intruder"))
	})
	// And a third deletes the Role.
	if err := k8s.Delete(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dave-instance"}}); err != nil {
		t.Fatal(err)
	}

	eventually(t, "StatefulSet repaired", func() error {
		sts := &appsv1.StatefulSet{}
		if err := k8s.Get(ctx, key, sts); err != nil {
			return err
		}
		if *sts.Spec.Replicas != 1 || sts.Spec.Template.Spec.Containers[0].Image != "messenger-operator:test" {
			return fmt.Errorf("replicas %d image %s", *sts.Spec.Replicas, sts.Spec.Template.Spec.Containers[0].Image)
		}
		return nil
	})
	eventually(t, "Service repaired", func() error {
		svc := &corev1.Service{}
		if err := k8s.Get(ctx, key, svc); err != nil {
			return err
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 {
			return fmt.Errorf("ports %+v", svc.Spec.Ports)
		}
		return nil
	})
	eventually(t, "Role recreated", func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "dave-instance"}, &rbacv1.Role{})
	})
}

func TestMissingSecretStalls(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	createInstance(t, ns, "erin", func(mi *v1alpha1.MessengerInstance) {
		mi.Spec.Webhook = &v1alpha1.WebhookSpec{URL: "https://hooks.example/in", SecretRef: &v1alpha1.SecretKeyReference{Name: "erin-hook"}}
	})
	mi := waitReady(t, ns, "erin", controllers.ReasonSecretNotFound)
	if !meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionStalled) {
		t.Errorf("Stalled not True: %+v", mi.Status.Conditions)
	}
	if got := kstatusOf(t, mi); got != status.FailedStatus {
		t.Errorf("kstatus stalled = %s, want Failed", got)
	}
	// The user creates the Secret; the next reconcile (here prompted by an annotation) clears it.
	if err := k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "erin-hook"},
		Data:       map[string][]byte{"secret": []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")},
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "poke", func() error {
		mi := getInstance(t, ns, "erin")
		mi.Annotations = map[string]string{"example.com/poke": "1"}
		return k8s.Update(context.Background(), mi)
	})
	mi = waitReady(t, ns, "erin", controllers.ReasonProgressing)
	if meta.IsStatusConditionTrue(mi.Status.Conditions, v1alpha1.ConditionStalled) {
		t.Error("still stalled after the Secret appeared")
	}
}

func TestDeletionPolicies(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	gone := func(ns, name string) func() error {
		return func() error {
			err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &v1alpha1.MessengerInstance{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there (err %v)", err)
		}
	}

	t.Run("Retain", func(t *testing.T) {
		ns := newNamespace(t)
		mi := createInstance(t, ns, "keep", nil)
		mi = waitReady(t, ns, "keep", controllers.ReasonProgressing)
		if len(mi.Finalizers) != 0 {
			t.Errorf("Retain instance has finalizers %v", mi.Finalizers)
		}
		sts := &appsv1.StatefulSet{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "keep"}, sts); err != nil {
			t.Fatal(err)
		}
		if sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
			t.Errorf("Retain must keep the PVC: %+v", sts.Spec.PersistentVolumeClaimRetentionPolicy)
		}
		if err := k8s.Delete(ctx, mi); err != nil {
			t.Fatal(err)
		}
		eventually(t, "Retain instance deleted", gone(ns, "keep"))
		if n := len(instances.callsTo("http://keep." + ns + ".svc:8080")); n != 0 {
			t.Errorf("Retain called logout %d times", n)
		}
	})

	t.Run("Logout", func(t *testing.T) {
		ns := newNamespace(t)
		createInstance(t, ns, "bye", func(mi *v1alpha1.MessengerInstance) { mi.Spec.DeletionPolicy = v1alpha1.DeletionPolicyLogout })
		var mi *v1alpha1.MessengerInstance
		eventually(t, "finalizer added", func() error {
			mi = getInstance(t, ns, "bye")
			if len(mi.Finalizers) != 1 || mi.Finalizers[0] != controllers.Finalizer {
				return fmt.Errorf("finalizers %v", mi.Finalizers)
			}
			return nil
		})
		waitReady(t, ns, "bye", controllers.ReasonProgressing)
		secret := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bye-token"}, secret); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Delete(ctx, mi); err != nil {
			t.Fatal(err)
		}
		eventually(t, "Logout instance deleted", gone(ns, "bye"))
		calls := instances.callsTo("http://bye." + ns + ".svc:8080")
		if len(calls) != 1 || calls[0].token != string(secret.Data["token"]) {
			t.Errorf("logout calls = %d (token matches: %v), want exactly 1 with the instance token",
				len(calls), len(calls) > 0 && calls[0].token == string(secret.Data["token"]))
		}
	})

	t.Run("LogoutInstanceDead", func(t *testing.T) {
		ns := newNamespace(t)
		endpoint := "http://dead." + ns + ".svc:8080"
		instances.setFail(endpoint, errors.New("connection refused"))
		mi := createInstance(t, ns, "dead", func(mi *v1alpha1.MessengerInstance) { mi.Spec.DeletionPolicy = v1alpha1.DeletionPolicyLogout })
		eventually(t, "finalizer added", func() error {
			mi = getInstance(t, ns, "dead")
			if len(mi.Finalizers) != 1 {
				return fmt.Errorf("finalizers %v", mi.Finalizers)
			}
			return nil
		})
		if err := k8s.Delete(ctx, mi); err != nil {
			t.Fatal(err)
		}
		// A dead instance cannot block deletion: after the grace period the finalizer goes.
		eventually(t, "dead instance deleted", gone(ns, "dead"))
		if n := len(instances.callsTo(endpoint)); n < 1 {
			t.Errorf("logout was not attempted")
		}
	})
}
