package controllers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	v1alpha1ac "github.com/messenger-operator/messenger-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
)

// Reconciler reconciles MessengerInstances into their children and status.
type Reconciler struct {
	// Client reads from the manager's cache (children carry the managed-by label) and writes.
	Client client.Client
	// APIReader reads uncached: Secrets the user references are not in the cache.
	APIReader client.Reader
	// Recorder emits events.k8s.io events on the MessengerInstance.
	Recorder events.EventRecorder
	// Instances talks to instance servers (logout on deletion).
	Instances InstanceClient
	// Metrics are updated on every reconcile; nil disables them.
	Metrics *Metrics
	// Build holds operator-wide builder settings (default image).
	Build BuildOptions
	// LogoutGracePeriod bounds how long deletion with deletionPolicy Logout waits for the instance
	// to answer, counted from the deletion timestamp; after it the finalizer goes anyway.
	LogoutGracePeriod time.Duration
	// MaxConcurrentReconciles is the number of parallel workers (1 when zero).
	MaxConcurrentReconciles int
	// Clock tells the time of hibernation decisions (the real clock when nil; tests step a fake one).
	Clock clock.PassiveClock
	// CollectWindow is how long an instance woken by wakeEvery stays up once connected
	// (DefaultCollectWindow when zero).
	CollectWindow time.Duration
	// OnReconcile, when set, is called at the start of every reconcile (tests count them).
	OnReconcile func(ctrl.Request)
}

// errStalled marks a failure only the user can fix; it becomes Stalled=True, not a retry.
type errStalled struct{ reason, msg string }

func (e *errStalled) Error() string { return e.msg }

// +kubebuilder:rbac:groups=messenger-operator.io,resources=messengerinstances,verbs=get;list;watch;patch;update
// +kubebuilder:rbac:groups=messenger-operator.io,resources=messengerinstances/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=messenger-operator.io,resources=messengerinstances/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;serviceaccounts;secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch

// Reconcile is the entry point: fetch, then delete or reconcile, and count the outcome.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if r.OnReconcile != nil {
		r.OnReconcile(req)
	}
	mi := &v1alpha1.MessengerInstance{}
	if err := r.Client.Get(ctx, req.NamespacedName, mi); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.observe(req.NamespacedName, "", true)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("getting MessengerInstance %s: %w", req.NamespacedName, err)
	}
	r.Metrics.observe(req.NamespacedName, mi.Status.AccountStatus, false)
	var (
		res ctrl.Result
		err error
	)
	if !mi.DeletionTimestamp.IsZero() {
		res, err = r.reconcileDelete(ctx, mi)
	} else {
		res, err = r.reconcile(ctx, mi)
	}
	if err != nil {
		r.Metrics.reconcileError(ReasonReconcileFailed)
	}
	return res, err
}

// reconcile brings the children of a live instance to its spec and reports status. Each step is
// one function; a stalled step still lets the status be written.
func (r *Reconciler) reconcile(ctx context.Context, mi *v1alpha1.MessengerInstance) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	obs := Observation{
		Generation:    mi.Generation,
		Suspended:     mi.Spec.Suspend,
		AccountStatus: mi.Status.AccountStatus,
		Authenticated: meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionAuthenticated),
		Hibernation:   r.planHibernation(mi),
	}

	// 1. The finalizer follows deletionPolicy: only Logout needs one (the instance must be asked
	//    before its pod goes); Retain relies on owner references alone.
	if err := r.ensureFinalizer(ctx, mi); err != nil {
		return ctrl.Result{}, err
	}

	// 2. Secrets named by the spec must exist, or the pod would hang in CreateContainerConfigError.
	//    They are not watched, so a missing one is re-checked after a while.
	err := r.checkReferencedSecrets(ctx, mi)
	if err == nil {
		err = r.checkInstanceID(ctx, mi) // an earlier instance owns the id: Stalled
	}

	// 3. The generated token Secret is created once and never overwritten.
	if err == nil && mi.Spec.TokenSecretRef == nil {
		err = r.ensureTokenSecret(ctx, mi)
	}

	// 4. Apply every child with server-side apply; a field another manager changed is taken back
	//    (drift repair) because the operator applies with ForceOwnership.
	if err == nil {
		err = r.applyChildren(ctx, withPlan(mi, obs.Hibernation)) // hibernated: zero replicas
	}

	// 5. Read the StatefulSet back to see how far the rollout is.
	if err == nil {
		obs.Workload, err = r.getStatefulSet(ctx, mi)
	}

	// 6. Turn the outcome into conditions: stalled (user must act), failed (retry), or observed.
	var stalled *errStalled
	result := ctrl.Result{}
	switch {
	case errors.As(err, &stalled):
		obs.StalledReason, obs.StalledMessage = stalled.reason, stalled.msg
		result.RequeueAfter = 30 * time.Second
		r.Metrics.reconcileError(stalled.reason)
		err = nil
	case err != nil:
		obs.ErrorMessage = err.Error()
	}

	// 7. Write status (operator-owned fields only) and emit events for what changed. A stalled
	//    generation counts as observed (kstatus then reports Failed); a transient error does not.
	childrenApplied := err == nil && obs.StalledReason == ""
	if serr := r.applyStatus(ctx, mi, obs, childrenApplied, err == nil); serr != nil {
		return ctrl.Result{}, errors.Join(err, serr)
	}
	result.RequeueAfter = r.afterHibernation(mi, obs, result.RequeueAfter, childrenApplied)
	if obs.StalledReason != "" {
		logger.Info("Reconcile stalled until the spec or a referenced Secret changes",
			"reason", obs.StalledReason, "message", obs.StalledMessage)
	}
	return result, err // controller-runtime logs a returned error and retries with backoff
}

// ensureFinalizer adds or removes the logout finalizer to match spec.deletionPolicy.
func (r *Reconciler) ensureFinalizer(ctx context.Context, mi *v1alpha1.MessengerInstance) error {
	want := mi.Spec.DeletionPolicy == v1alpha1.DeletionPolicyLogout
	if want == controllerutil.ContainsFinalizer(mi, Finalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(mi.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if want {
		controllerutil.AddFinalizer(mi, Finalizer)
	} else {
		controllerutil.RemoveFinalizer(mi, Finalizer)
	}
	if err := r.Client.Patch(ctx, mi, patch, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("updating finalizer of MessengerInstance %s/%s: %w", mi.Namespace, mi.Name, err)
	}
	return nil
}

// checkReferencedSecrets verifies that each Secret and key the spec names exists.
func (r *Reconciler) checkReferencedSecrets(ctx context.Context, mi *v1alpha1.MessengerInstance) error {
	type ref struct{ field, name, key string }
	var refs []ref
	if s := mi.Spec.TokenSecretRef; s != nil {
		refs = append(refs, ref{"spec.tokenSecretRef", s.Name, keyOr(s.Key, DefaultTokenKey)})
	}
	if w := mi.Spec.Webhook; w != nil && w.SecretRef != nil {
		refs = append(refs, ref{"spec.webhook.secretRef", w.SecretRef.Name, keyOr(w.SecretRef.Key, DefaultWebhookSecretKey)})
	}
	if d := mi.Spec.Database; d != nil {
		refs = append(refs, ref{"spec.database.secretRef", d.SecretRef.Name, keyOr(d.SecretRef.Key, DefaultDatabaseKey)})
	}
	if p := mi.Spec.Proxy; p != nil {
		refs = append(refs, ref{"spec.proxy.secretRef", p.SecretRef.Name, keyOr(p.SecretRef.Key, DefaultProxyKey)})
	}
	for _, rf := range refs {
		s := &corev1.Secret{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: mi.Namespace, Name: rf.name}, s)
		switch {
		case apierrors.IsNotFound(err):
			return &errStalled{ReasonSecretNotFound, fmt.Sprintf("Secret %q named by %s not found", rf.name, rf.field)}
		case err != nil:
			return fmt.Errorf("reading Secret %q named by %s: %w", rf.name, rf.field, err)
		}
		if _, ok := s.Data[rf.key]; !ok {
			return &errStalled{ReasonSecretNotFound, fmt.Sprintf("Secret %q named by %s has no key %q", rf.name, rf.field, rf.key)}
		}
	}
	return nil
}

// ensureTokenSecret creates <name>-token with a random token when it does not exist. An existing
// Secret is never changed, so clients keep working across reconciles and operator restarts.
func (r *Reconciler) ensureTokenSecret(ctx context.Context, mi *v1alpha1.MessengerInstance) error {
	key := client.ObjectKey{Namespace: mi.Namespace, Name: GeneratedTokenSecretName(mi)}
	err := r.Client.Get(ctx, key, &corev1.Secret{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading token Secret %s: %w", key, err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("generating token: %w", err)
	}
	// The cache may lag behind a Secret created by the previous reconcile: a create that finds
	// it already there leaves it alone (one round trip instead of a read and a create).
	secret := BuildTokenSecret(mi, base64.RawURLEncoding.EncodeToString(raw))
	if err := r.Client.Create(ctx, secret, client.FieldOwner(FieldManager)); apierrors.IsAlreadyExists(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("creating token Secret %s: %w", key, err)
	}
	r.Recorder.Eventf(mi, secret, corev1.EventTypeNormal, "TokenCreated", "CreateTokenSecret",
		"Generated API token in Secret %s", secret.Name)
	return nil
}

// child is one kind of child: how to build it and an empty object of its type (for deletes).
type child struct {
	kind  string
	build func(*v1alpha1.MessengerInstance) runtime.ApplyConfiguration
	empty func() client.Object
}

// children lists every child in apply order (RBAC first, the StatefulSet that uses it last).
func (r *Reconciler) children() []child {
	return []child{
		{"ServiceAccount", func(m *v1alpha1.MessengerInstance) runtime.ApplyConfiguration { return BuildServiceAccount(m) },
			func() client.Object { return &corev1.ServiceAccount{} }},
		{"Role", func(m *v1alpha1.MessengerInstance) runtime.ApplyConfiguration { return BuildRole(m) },
			func() client.Object { return &rbacv1.Role{} }},
		{"RoleBinding", func(m *v1alpha1.MessengerInstance) runtime.ApplyConfiguration { return BuildRoleBinding(m) },
			func() client.Object { return &rbacv1.RoleBinding{} }},
		{"Lease", func(m *v1alpha1.MessengerInstance) runtime.ApplyConfiguration { return BuildLease(m) },
			func() client.Object { return &coordinationv1.Lease{} }},
		{"Service", func(m *v1alpha1.MessengerInstance) runtime.ApplyConfiguration { return BuildService(m) },
			func() client.Object { return &corev1.Service{} }},
		{"StatefulSet", func(m *v1alpha1.MessengerInstance) runtime.ApplyConfiguration { return BuildStatefulSet(m, r.Build) },
			func() client.Object { return &appsv1.StatefulSet{} }},
	}
}

// applyChildren server-side-applies every child.
func (r *Reconciler) applyChildren(ctx context.Context, mi *v1alpha1.MessengerInstance) error {
	for _, c := range r.children() {
		if err := r.applyChild(ctx, mi, c); err != nil {
			return err
		}
	}
	return nil
}

// applyChild applies one child. When the API server refuses the merged object (Invalid), there
// are two causes: another manager re-keyed a list the operator owns (e.g. changed a Service
// port, so the desired port would be added next to it as a duplicate), or the spec itself
// yields an invalid object. A dry-run apply of the same child under a fresh name tells them
// apart: in the first case the child is deleted and applied anew; in the
// second the instance stalls with the API server's message. (A recreated StatefulSet restarts
// its pod: acceptable for a child that someone rewrote by hand.)
func (r *Reconciler) applyChild(ctx context.Context, mi *v1alpha1.MessengerInstance, c child) error {
	opts := []client.ApplyOption{client.FieldOwner(FieldManager), client.ForceOwnership}
	err := r.Client.Apply(ctx, c.build(mi), opts...)
	if err == nil {
		return nil
	}
	if !apierrors.IsInvalid(err) {
		return fmt.Errorf("applying %s %s/%s: %w", c.kind, mi.Namespace, mi.Name, err)
	}
	probe := mi.DeepCopy()
	probe.Name = mi.Name + "-probe"
	if perr := r.Client.Apply(ctx, c.build(probe), append(opts, client.DryRunAll)...); perr != nil {
		return &errStalled{ReasonInvalidSpec, fmt.Sprintf("%s refused by the API server: %v", c.kind, err)}
	}
	obj := c.empty()
	obj.SetNamespace(mi.Namespace)
	obj.SetName(nameOf(c.build(mi)))
	log.FromContext(ctx).Info("Recreating child that drifted beyond repair by apply", "kind", c.kind, "name", obj.GetName(), "error", err.Error())
	r.Recorder.Eventf(mi, obj, corev1.EventTypeWarning, "ChildRecreated", "Recreate",
		"%s %s was changed by another client in a way apply cannot merge; recreated it", c.kind, obj.GetName())
	if derr := r.Client.Delete(ctx, obj); derr != nil && !apierrors.IsNotFound(derr) {
		return fmt.Errorf("deleting drifted %s %s/%s: %w", c.kind, mi.Namespace, obj.GetName(), derr)
	}
	if err := r.Client.Apply(ctx, c.build(mi), opts...); err != nil {
		return fmt.Errorf("re-applying %s %s/%s: %w", c.kind, mi.Namespace, obj.GetName(), err)
	}
	return nil
}

// nameOf returns metadata.name of an apply configuration.
func nameOf(ac runtime.ApplyConfiguration) string {
	if n, ok := ac.(interface{ GetName() *string }); ok && n.GetName() != nil {
		return *n.GetName()
	}
	return ""
}

// getStatefulSet reads the instance's StatefulSet from the cache (nil if not there yet).
func (r *Reconciler) getStatefulSet(ctx context.Context, mi *v1alpha1.MessengerInstance) (*appsv1.StatefulSet, error) {
	sts := &appsv1.StatefulSet{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: mi.Namespace, Name: StatefulSetName(mi)}, sts)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading StatefulSet %s/%s: %w", mi.Namespace, mi.Name, err)
	}
	return sts, nil
}

// applyStatus writes the fields the operator owns with server-side apply (the instance's kube
// agent owns the account fields under its own manager), skipping the write when nothing changed.
// When the children were applied, the reboot request in the annotation counts as handled.
func (r *Reconciler) applyStatus(ctx context.Context, mi *v1alpha1.MessengerInstance, obs Observation, childrenApplied, observedAll bool) error {
	now := metav1.Now()
	conds := MergeConditions(mi.Status.Conditions, ComputeConditions(obs), now)
	observed := mi.Status.ObservedGeneration
	if observedAll {
		observed = mi.Generation
	}
	handledReboot := mi.Status.LastHandledReboot
	rebooted := false
	if childrenApplied {
		if v := mi.Annotations[v1alpha1.RebootAnnotation]; v != "" && v != handledReboot {
			handledReboot, rebooted = v, true
		}
	}
	tokenName, _ := TokenSecret(mi)
	if !statusChanged(mi, conds, observed, handledReboot, tokenName) && !hibernationChanged(mi, obs.Hibernation) {
		return nil
	}
	st := v1alpha1ac.MessengerInstanceStatus().
		WithObservedGeneration(observed).
		WithEndpoint(Endpoint(mi)).
		WithTokenSecretName(tokenName)
	if handledReboot != "" {
		st.WithLastHandledReboot(handledReboot)
	}
	if p := obs.Hibernation; p != nil {
		st.WithHibernation(hibernationStatusAC(p.Status))
	}
	for _, c := range conds {
		st.WithConditions(metav1ac.Condition().
			WithType(c.Type).WithStatus(c.Status).WithReason(c.Reason).WithMessage(c.Message).
			WithObservedGeneration(c.ObservedGeneration).WithLastTransitionTime(c.LastTransitionTime))
	}
	ac := v1alpha1ac.MessengerInstance(mi.Name, mi.Namespace).WithStatus(st)
	if err := r.Client.Status().Apply(ctx, ac, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying status of MessengerInstance %s/%s: %w", mi.Namespace, mi.Name, err)
	}
	if rebooted {
		r.Recorder.Eventf(mi, nil, corev1.EventTypeNormal, "Rebooting", "Reboot",
			"Restarting the instance pod for reboot request %q", handledReboot)
	}
	r.emitTransition(mi, conds)
	return nil
}

// statusChanged reports whether the operator-owned status differs from what is stored.
func statusChanged(mi *v1alpha1.MessengerInstance, conds []metav1.Condition, observed int64, reboot, token string) bool {
	st := mi.Status
	if st.ObservedGeneration != observed || st.LastHandledReboot != reboot || st.TokenSecretName != token || st.Endpoint != Endpoint(mi) {
		return true
	}
	for _, c := range conds {
		old := meta.FindStatusCondition(st.Conditions, c.Type)
		if old == nil || old.Status != c.Status || old.Reason != c.Reason || old.Message != c.Message ||
			old.ObservedGeneration != c.ObservedGeneration {
			return true
		}
	}
	return false
}

// emitTransition records an event when Ready changes status or reason; the event reason is the
// condition reason.
func (r *Reconciler) emitTransition(mi *v1alpha1.MessengerInstance, conds []metav1.Condition) {
	ready := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
	old := meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || old != nil && old.Status == ready.Status && old.Reason == ready.Reason {
		return
	}
	eventType := corev1.EventTypeNormal
	if ready.Reason == ReasonReconcileFailed || meta.IsStatusConditionTrue(conds, v1alpha1.ConditionStalled) {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(mi, nil, eventType, ready.Reason, "Reconcile", "%s", ready.Message)
}

// reconcileDelete runs the deletion policy: with Logout, ask the instance to log out (bounded by
// LogoutGracePeriod), then release the finalizer; children go with their owner references.
func (r *Reconciler) reconcileDelete(ctx context.Context, mi *v1alpha1.MessengerInstance) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(mi, Finalizer) {
		return ctrl.Result{}, nil
	}
	logger := log.FromContext(ctx).WithValues("messengerInstance", client.ObjectKeyFromObject(mi))
	if mi.Spec.DeletionPolicy == v1alpha1.DeletionPolicyLogout && !mi.Spec.Suspend {
		if werr := r.wakeForLogout(ctx, mi); werr != nil {
			return ctrl.Result{}, werr
		}
		err := r.logout(ctx, mi)
		switch {
		case err == nil:
			logger.Info("Logged the account out before deletion")
			r.Recorder.Eventf(mi, nil, corev1.EventTypeNormal, "LoggedOut", "Logout", "Logged the account out before deletion")
		case time.Since(mi.DeletionTimestamp.Time) < r.LogoutGracePeriod:
			logger.Info("Logout before deletion failed; retrying", "error", err.Error())
			r.Recorder.Eventf(mi, nil, corev1.EventTypeWarning, "LogoutFailed", "Logout", "Logout before deletion failed, retrying: %v", err)
			return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
		default:
			logger.Info("Logout before deletion failed; giving up after the grace period", "error", err.Error())
			r.Recorder.Eventf(mi, nil, corev1.EventTypeWarning, "LogoutAbandoned", "Logout",
				"Could not log the account out within %s; deleting anyway: %v", r.LogoutGracePeriod, err)
		}
	}
	if err := r.removeFinalizer(ctx, mi); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("removing finalizer of MessengerInstance %s/%s: %w", mi.Namespace, mi.Name, err)
	}
	return ctrl.Result{}, nil
}

// removeFinalizer releases the finalizer, re-reading the object on a conflict: the deletion policy
// already ran and must not run again (a logout would be asked for twice).
func (r *Reconciler) removeFinalizer(ctx context.Context, mi *v1alpha1.MessengerInstance) error {
	cur := mi
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if cur == nil {
			cur = &v1alpha1.MessengerInstance{}
			if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(mi), cur); err != nil {
				return err
			}
		}
		obj := cur
		cur = nil // a retry reads the object afresh
		if !controllerutil.ContainsFinalizer(obj, Finalizer) {
			return nil
		}
		patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.RemoveFinalizer(obj, Finalizer)
		return r.Client.Patch(ctx, obj, patch, client.FieldOwner(FieldManager))
	})
}

// logout reads the API token and asks the instance to log out.
func (r *Reconciler) logout(ctx context.Context, mi *v1alpha1.MessengerInstance) error {
	name, key := TokenSecret(mi)
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: mi.Namespace, Name: name}, s); err != nil {
		return fmt.Errorf("reading token Secret %s: %w", name, err)
	}
	return r.Instances.Logout(ctx, Endpoint(mi), string(s.Data[key]))
}

// SetupWithManager registers the controller: it watches MessengerInstances (changes that matter
// to it) and every kind of child it owns.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.LogoutGracePeriod == 0 {
		r.LogoutGracePeriod = 2 * time.Minute
	}
	if r.MaxConcurrentReconciles == 0 {
		r.MaxConcurrentReconciles = 1
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.MessengerInstance{}, InstanceIDIndex, IndexInstanceID); err != nil {
		return fmt.Errorf("indexing MessengerInstances by instanceId: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("messengerinstance").
		For(&v1alpha1.MessengerInstance{}, builder.WithPredicates(relevantChange())).
		Watches(&v1alpha1.MessengerInstance{}, handler.EnqueueRequestsFromMapFunc(r.sameInstanceID)).
		Owns(&appsv1.StatefulSet{}, builder.WithPredicates(childChange())).
		Owns(&corev1.Service{}, builder.WithPredicates(childChange())).
		Owns(&corev1.Secret{}, builder.WithPredicates(childChange())).
		Owns(&corev1.ServiceAccount{}, builder.WithPredicates(childChange())).
		Owns(&rbacv1.Role{}, builder.WithPredicates(childChange())).
		Owns(&rbacv1.RoleBinding{}, builder.WithPredicates(childChange())).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}
