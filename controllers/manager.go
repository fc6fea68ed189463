package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"

	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// ManagerOptions configure the operator process (the flags of `messenger-operator operator`).
type ManagerOptions struct {
	// MetricsBindAddress serves /metrics ("0" disables it).
	MetricsBindAddress string
	// HealthProbeBindAddress serves /healthz and /readyz ("0" disables it).
	HealthProbeBindAddress string
	// LeaderElection makes only one replica of the operator active at a time.
	LeaderElection bool
	// LeaderElectionNamespace holds the leader Lease when running outside a cluster.
	LeaderElectionNamespace string
	// Namespaces limits the watch to these namespaces; empty watches all.
	Namespaces []string
	// MaxConcurrentReconciles is the number of parallel reconciles.
	MaxConcurrentReconciles int
	// InstanceImage is the default image of instance pods.
	InstanceImage string
	// WebhookAllowNetworks are CIDRs every instance may deliver webhooks to (the cluster's
	// Service and Pod networks); spec.webhook.allowNetworks adds to them.
	WebhookAllowNetworks []string
	// Instances talks to instance servers; nil uses HTTPInstanceClient.
	Instances InstanceClient
	// LogoutGracePeriod bounds the wait for a logout on deletion (2 min when zero).
	LogoutGracePeriod time.Duration
	// MetricsRegistry takes the operator's own metrics; nil is controller-runtime's registry.
	// A second manager in one process (tests) needs a registry of its own.
	MetricsRegistry prometheus.Registerer
	// HibernationCollectWindow is how long an instance woken by wakeEvery stays up once
	// connected (DefaultCollectWindow when zero).
	HibernationCollectWindow time.Duration
	// Clock tells the time of hibernation decisions; nil is the real clock (tests step a fake one).
	Clock clock.PassiveClock
	// SecondInProcess lets another manager of this process run the same controller (tests start
	// more than one operator in one process; controller-runtime refuses a repeated name otherwise).
	SecondInProcess bool
	// OnReconcile, when set, is called at the start of every reconcile (tests count them).
	OnReconcile func(ctrl.Request)
}

// NewScheme returns a scheme with the built-in types and MessengerInstance.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("adding client-go types to scheme: %w", err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, fmt.Errorf("adding messenger-operator.io types to scheme: %w", err)
	}
	return s, nil
}

// TransformStatefulSetForCache is the cache transform of StatefulSets: besides managedFields it
// drops the pod template and the claim templates, the bulk of the object. The operator reads
// back only a StatefulSet's generation, replicas and status (workloadReady); it never compares
// the template, since an apply of the desired one repairs any drift. Code that needs the
// template must read it from the API server (APIReader).
func TransformStatefulSetForCache(in any) (any, error) {
	sts, ok := in.(*appsv1.StatefulSet)
	if !ok {
		return in, nil
	}
	sts.ManagedFields = nil
	sts.Spec.Template = corev1.PodTemplateSpec{}
	sts.Spec.VolumeClaimTemplates = nil
	return sts, nil
}

// NewManager builds the controller-runtime manager with the MessengerInstance reconciler
// registered. Its cache holds only children labelled managed-by=messenger-operator, so memory
// grows with the instances, not with the cluster.
func NewManager(cfg *rest.Config, o ManagerOptions) (ctrl.Manager, error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	managed := labels.SelectorFromSet(labels.Set{LabelManagedBy: LabelManagedByValue})
	cacheOpts := cache.Options{
		// Nothing reads managedFields from the cache: applies send the whole desired state.
		// They are the largest part of an object the operator applies (docs/benchmarks.md,
		// "Operator at 10,000 instances").
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.StatefulSet{}:    {Label: managed, Transform: TransformStatefulSetForCache},
			&corev1.Service{}:        {Label: managed},
			&corev1.Secret{}:         {Label: managed},
			&corev1.ServiceAccount{}: {Label: managed},
			&rbacv1.Role{}:           {Label: managed},
			&rbacv1.RoleBinding{}:    {Label: managed},
		},
	}
	if len(o.Namespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.Namespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              "messenger-operator.messenger-operator.io",
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Controller:                    ctrlconfig.Controller{SkipNameValidation: ptr.To(o.SecondInProcess)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding ready check: %w", err)
	}
	instances := o.Instances
	if instances == nil {
		instances = HTTPInstanceClient{}
	}
	metrics := NewMetrics()
	registry := o.MetricsRegistry
	if registry == nil {
		registry = ctrlmetrics.Registry
	}
	if err := metrics.Register(registry); err != nil {
		return nil, fmt.Errorf("registering metrics: %w", err)
	}
	r := &Reconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder("messenger-operator"),
		Instances:               instances,
		Metrics:                 metrics,
		Build:                   BuildOptions{DefaultImage: o.InstanceImage, WebhookAllowNetworks: o.WebhookAllowNetworks},
		LogoutGracePeriod:       o.LogoutGracePeriod,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		Clock:                   o.Clock,
		CollectWindow:           o.HibernationCollectWindow,
		OnReconcile:             o.OnReconcile,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up MessengerInstance controller: %w", err)
	}
	return mgr, nil
}
