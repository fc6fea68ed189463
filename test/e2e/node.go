package e2e

import (
	"k8s.io/utils/ptr"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"

	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/json"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
)

// NodeName is the spec.nodeName of the pods the harness runs.
const NodeName = "e2e-node"

// Labels the StatefulSet controller puts on its pods.
const (
	labelRevision = "controller-revision-hash"
	labelPodName  = "statefulset.kubernetes.io/pod-name"
	labelPodIndex = "apps.kubernetes.io/pod-index"
)

// Node plays the StatefulSet controller, the kubelet and the garbage collector for StatefulSets
// (none of which run next to a bare kube-apiserver): for each replica it creates the Pod object
// and runs its container as a local process, reports the Pod's readiness from its readiness
// probe, restarts the process when the pod template changes or the Pod is deleted, stops it when
// the StatefulSet is scaled to zero, and deletes StatefulSets whose owner is gone.
type Node struct {
	cfg   *rest.Config
	admin client.Client
	opts  Options
	log   *slog.Logger

	mu   sync.Mutex
	pods map[types.NamespacedName]*Process // running pods by pod key
}

func newNode(cfg *rest.Config, admin client.Client, opts Options) (*Node, error) {
	return &Node{cfg: cfg, admin: admin, opts: opts, log: opts.Logger.With("component", "node"),
		pods: map[types.NamespacedName]*Process{}}, nil
}

// manager is the node's controller-runtime manager: it watches StatefulSets, their Pods, and
// MessengerInstances (for garbage collection).
func (n *Node) manager() (manager.Manager, error) {
	scheme, err := controllers.NewScheme()
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(n.cfg, manager.Options{Scheme: scheme,
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		// Tests may start more than one harness in a process.
		Controller: ctrlconfig.Controller{SkipNameValidation: ptr.To(true)}})
	if err != nil {
		return nil, fmt.Errorf("node manager: %w", err)
	}
	byOwnerName := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}}}
	})
	err = ctrl.NewControllerManagedBy(mgr).Named("e2e-node").
		For(&appsv1.StatefulSet{}).
		Owns(&corev1.Pod{}).
		Watches(&v1alpha1.MessengerInstance{}, byOwnerName).
		Complete(n)
	if err != nil {
		return nil, fmt.Errorf("node controller: %w", err)
	}
	return mgr, nil
}

// Reconcile brings the pods of one StatefulSet to its spec.
func (n *Node) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	sts := &appsv1.StatefulSet{}
	err := n.admin.Get(ctx, req.NamespacedName, sts)
	if apierrors.IsNotFound(err) {
		n.stopPods(req.Namespace, req.Name, 0)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if gone, err := n.ownerGone(ctx, sts); err != nil || gone {
		return reconcile.Result{}, err
	}
	replicas := 1
	if sts.Spec.Replicas != nil {
		replicas = int(*sts.Spec.Replicas)
	}
	if !sts.DeletionTimestamp.IsZero() {
		replicas = 0
	}
	rev := revision(sts)
	var requeue bool
	for i := range replicas {
		again, err := n.ensurePod(ctx, sts, i, rev)
		if err != nil {
			n.log.Warn("pod not running", "statefulSet", req.String(), "ordinal", i, "error", err)
			requeue = true
		}
		requeue = requeue || again
	}
	n.stopPods(req.Namespace, req.Name, replicas)
	if err := n.deleteExtraPods(ctx, sts, replicas); err != nil {
		return reconcile.Result{}, err
	}
	if err := n.updateStatus(ctx, sts, rev); err != nil {
		return reconcile.Result{}, err
	}
	if requeue {
		return reconcile.Result{RequeueAfter: time.Second}, nil
	}
	return reconcile.Result{}, nil
}

// ownerGone deletes a StatefulSet whose controlling owner no longer exists, as the garbage
// collector would, and reports whether it did.
func (n *Node) ownerGone(ctx context.Context, sts *appsv1.StatefulSet) (bool, error) {
	ref := metav1.GetControllerOf(sts)
	if ref == nil || ref.Kind != "MessengerInstance" {
		return false, nil
	}
	mi := &v1alpha1.MessengerInstance{}
	err := n.admin.Get(ctx, client.ObjectKey{Namespace: sts.Namespace, Name: ref.Name}, mi)
	if err == nil && mi.UID == ref.UID {
		return false, nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	n.log.Info("owner gone: deleting StatefulSet", "statefulSet", sts.Namespace+"/"+sts.Name)
	n.stopPods(sts.Namespace, sts.Name, 0)
	if err := n.deleteExtraPods(ctx, sts, 0); err != nil {
		return true, err
	}
	if err := n.admin.Delete(ctx, sts); err != nil && !apierrors.IsNotFound(err) {
		return true, fmt.Errorf("deleting StatefulSet %s/%s: %w", sts.Namespace, sts.Name, err)
	}
	return true, nil
}

// revision names the pod template: the StatefulSet name and a hash of the template.
func revision(sts *appsv1.StatefulSet) string {
	data, _ := json.Marshal(sts.Spec.Template)
	h := fnv.New64a()
	_, _ = h.Write(data)
	return fmt.Sprintf("%s-%x", sts.Name, h.Sum64()&0xffffffffff)
}

// ensurePod makes replica i run the template of revision rev; true asks for another look soon.
func (n *Node) ensurePod(ctx context.Context, sts *appsv1.StatefulSet, i int, rev string) (bool, error) {
	key := types.NamespacedName{Namespace: sts.Namespace, Name: fmt.Sprintf("%s-%d", sts.Name, i)}
	pod := &corev1.Pod{}
	err := n.admin.Get(ctx, key, pod)
	switch {
	case apierrors.IsNotFound(err):
		pod = nil
	case err != nil:
		return false, err
	}
	proc := n.process(key)
	// A deleted pod, or one of an old revision, goes first (with its process), as in a rolling update.
	if pod != nil && (!pod.DeletionTimestamp.IsZero() || pod.Labels[labelRevision] != rev) {
		n.stopPod(key)
		if err := n.admin.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("deleting pod %s: %w", key, err)
		}
		return true, nil
	}
	if pod == nil {
		n.stopPod(key)
		if pod, err = n.createPod(ctx, sts, i, rev); err != nil {
			return false, err
		}
	}
	if proc != nil && proc.uid == pod.UID {
		return false, nil
	}
	n.stopPod(key)
	if err := n.startPod(ctx, pod); err != nil {
		n.setWaiting(ctx, pod, "CreateContainerConfigError", err.Error())
		return true, err
	}
	return false, nil
}

// createPod creates replica i's Pod from the template, as the StatefulSet controller does.
func (n *Node) createPod(ctx context.Context, sts *appsv1.StatefulSet, i int, rev string) (*corev1.Pod, error) {
	tmpl := sts.Spec.Template.DeepCopy()
	name := fmt.Sprintf("%s-%d", sts.Name, i)
	lbls := maps.Clone(tmpl.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[labelRevision], lbls[labelPodName], lbls[labelPodIndex] = rev, name, strconv.Itoa(i)
	yes := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sts.Namespace, Labels: lbls, Annotations: tmpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: sts.Name,
				UID: sts.UID, Controller: &yes, BlockOwnerDeletion: &yes}}},
		Spec: tmpl.Spec,
	}
	pod.Spec.NodeName, pod.Spec.Hostname, pod.Spec.Subdomain = NodeName, name, sts.Spec.ServiceName
	for _, claim := range sts.Spec.VolumeClaimTemplates {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: claim.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name + "-" + name}}})
	}
	if err := n.admin.Create(ctx, pod); err != nil {
		return nil, fmt.Errorf("creating pod %s/%s: %w", sts.Namespace, name, err)
	}
	return pod, nil
}

// deleteExtraPods deletes the StatefulSet's pods with an ordinal at or above replicas.
func (n *Node) deleteExtraPods(ctx context.Context, sts *appsv1.StatefulSet, replicas int) error {
	pods, err := n.podsOf(ctx, sts)
	if err != nil {
		return err
	}
	for i := range pods {
		if ord, err := strconv.Atoi(pods[i].Labels[labelPodIndex]); err == nil && ord < replicas {
			continue
		}
		if err := n.admin.Delete(ctx, &pods[i], client.GracePeriodSeconds(0)); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting pod %s/%s: %w", pods[i].Namespace, pods[i].Name, err)
		}
	}
	return nil
}

// podsOf lists the pods the StatefulSet controls.
func (n *Node) podsOf(ctx context.Context, sts *appsv1.StatefulSet) ([]corev1.Pod, error) {
	list := &corev1.PodList{}
	if err := n.admin.List(ctx, list, client.InNamespace(sts.Namespace)); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == sts.UID {
			out = append(out, p)
		}
	}
	return out, nil
}

// updateStatus writes the StatefulSet status from its pods.
func (n *Node) updateStatus(ctx context.Context, sts *appsv1.StatefulSet, rev string) error {
	pods, err := n.podsOf(ctx, sts)
	if err != nil {
		return err
	}
	st := appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, UpdateRevision: rev,
		CurrentRevision: sts.Status.CurrentRevision, CollisionCount: sts.Status.CollisionCount}
	for _, p := range pods {
		if !p.DeletionTimestamp.IsZero() {
			continue
		}
		st.Replicas++
		if p.Labels[labelRevision] == rev {
			st.UpdatedReplicas++
		}
		if podReady(&p) {
			st.ReadyReplicas++
			st.AvailableReplicas++
		}
	}
	want := int32(1)
	if sts.Spec.Replicas != nil {
		want = *sts.Spec.Replicas
	}
	if st.UpdatedReplicas == want && st.Replicas == want {
		st.CurrentRevision = rev
	}
	st.CurrentReplicas = st.UpdatedReplicas
	if st.CurrentRevision != rev {
		st.CurrentReplicas = st.Replicas - st.UpdatedReplicas
	}
	if equalStatus(sts.Status, st) {
		return nil
	}
	patch := client.MergeFrom(sts.DeepCopy())
	sts.Status = st
	if err := n.admin.Status().Patch(ctx, sts, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("StatefulSet status %s/%s: %w", sts.Namespace, sts.Name, err)
	}
	return nil
}

func equalStatus(a, b appsv1.StatefulSetStatus) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// process returns the running process of a pod (nil if none).
func (n *Node) process(key types.NamespacedName) *Process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pods[key]
}

// stopPod stops the process of a pod, if any.
func (n *Node) stopPod(key types.NamespacedName) {
	n.mu.Lock()
	p := n.pods[key]
	delete(n.pods, key)
	n.mu.Unlock()
	if p != nil {
		p.Stop()
	}
}

// stopPods stops the processes of a StatefulSet's pods with an ordinal at or above from.
func (n *Node) stopPods(ns, sts string, from int) {
	n.mu.Lock()
	var keys []types.NamespacedName
	for key := range n.pods {
		ord, ok := strings.CutPrefix(key.Name, sts+"-")
		if i, err := strconv.Atoi(ord); key.Namespace == ns && ok && err == nil && i >= from {
			keys = append(keys, key)
		}
	}
	n.mu.Unlock()
	for _, k := range keys {
		n.stopPod(k)
	}
}

// stopAll stops every process (harness shutdown).
func (n *Node) stopAll() {
	n.mu.Lock()
	keys := slices.Collect(maps.Keys(n.pods))
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Go(func() { n.stopPod(k) })
	}
	wg.Wait()
}

// startPod launches the pod's container and follows it.
func (n *Node) startPod(ctx context.Context, pod *corev1.Pod) error {
	port, err := testenv.FreePort()
	if err != nil {
		return err
	}
	l, err := n.resolve(ctx, pod, port, n.podDir(pod), n.claimDir(pod.Namespace))
	if err != nil {
		return err
	}
	key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
	p := startProcess(l, pod, port, n.log.With("pod", key.String()), func(p *Process) { n.reportPod(key, p) })
	n.mu.Lock()
	n.pods[key] = p
	n.mu.Unlock()
	n.reportPod(key, p)
	return nil
}

// reportPod writes the pod's status: running on this node, ready as its probe says.
func (n *Node) reportPod(key types.NamespacedName, p *Process) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod := &corev1.Pod{}
		if err := n.admin.Get(ctx, key, pod); err != nil {
			return err
		}
		if pod.UID != p.uid || !pod.DeletionTimestamp.IsZero() {
			return nil
		}
		pod.Status = p.podStatus(pod)
		return n.admin.Status().Update(ctx, pod)
	})
	if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		n.log.Warn("pod status", "pod", key.String(), "error", err)
	}
}

// setWaiting reports a container that could not start.
func (n *Node) setWaiting(ctx context.Context, pod *corev1.Pod, reason, msg string) {
	pod = pod.DeepCopy()
	pod.Status.Phase = corev1.PodPending
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: pod.Spec.Containers[0].Name,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
	_ = n.admin.Status().Update(ctx, pod)
}

// DialContext dials like a pod in the cluster: <service>.<namespace>.svc[.cluster.local]:port
// reaches the process of a ready pod the Service selects; anything else is dialled as is.
func (n *Node) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if svc, ns, ok := serviceHost(host); ok {
		local, err := n.ServiceAddress(ctx, ns, svc)
		if err != nil {
			return nil, err
		}
		addr = local
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// serviceHost splits a Service DNS name.
func serviceHost(host string) (svc, ns string, ok bool) {
	host = strings.TrimSuffix(strings.TrimSuffix(host, "."), ".cluster.local")
	parts := strings.Split(host, ".")
	if len(parts) != 3 || parts[2] != "svc" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// ServiceAddress returns the local address (127.0.0.1:port) of a running pod that the Service
// ns/name selects.
func (n *Node) ServiceAddress(ctx context.Context, ns, name string) (string, error) {
	svc := &corev1.Service{}
	if err := n.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc); err != nil {
		return "", fmt.Errorf("service %s/%s: %w", ns, name, err)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	n.mu.Lock()
	defer n.mu.Unlock()
	for key, p := range n.pods {
		if key.Namespace == ns && len(svc.Spec.Selector) > 0 && sel.Matches(labels.Set(p.labels)) {
			return p.Address(), nil
		}
	}
	return "", fmt.Errorf("service %s/%s: no running pod", ns, name)
}

// Pod returns the running process of pod ns/name (nil if none).
func (n *Node) Pod(ns, name string) *Process {
	return n.process(types.NamespacedName{Namespace: ns, Name: name})
}
