package controllers

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// BuildOptions are the operator-wide settings the builders need.
type BuildOptions struct {
	// DefaultImage is the instance image used when spec.image is empty.
	DefaultImage string
	// WebhookAllowNetworks are CIDRs (the cluster's Service and Pod networks) on which every
	// instance may deliver webhooks; spec.webhook.allowNetworks adds to them.
	WebhookAllowNetworks []string
}

// WebhookAllowNetworks is where the instance may deliver webhooks although the address is private
// or loopback: the operator's default networks and then spec.webhook.allowNetworks, each once. The
// spec adds to the default and cannot remove from it.
func WebhookAllowNetworks(mi *v1alpha1.MessengerInstance, opts BuildOptions) []string {
	var out []string
	seen := map[string]bool{}
	add := func(list []string) {
		for _, n := range list {
			if n = strings.TrimSpace(n); n != "" && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	add(opts.WebhookAllowNetworks)
	if wh := mi.Spec.Webhook; wh != nil {
		add(wh.AllowNetworks)
	}
	return out
}

// ownerReference makes mi the controlling owner of a child.
func ownerReference(mi *v1alpha1.MessengerInstance) *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().
		WithAPIVersion(v1alpha1.GroupVersion.String()).
		WithKind("MessengerInstance").
		WithName(mi.Name).
		WithUID(mi.UID).
		WithController(true).
		WithBlockOwnerDeletion(true)
}

// BuildStatefulSet returns the StatefulSet that runs the instance server: one replica (zero when
// suspended or hibernated), the data volume from a claim template unless the session lives in PostgreSQL.
func BuildStatefulSet(mi *v1alpha1.MessengerInstance, opts BuildOptions) *appsv1ac.StatefulSetApplyConfiguration {
	replicas := int32(1)
	if mi.Spec.Suspend || Hibernating(mi) {
		replicas = 0
	}
	whenDeleted := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if mi.Spec.DeletionPolicy == v1alpha1.DeletionPolicyLogout {
		whenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	spec := appsv1ac.StatefulSetSpec().
		WithReplicas(replicas).
		WithServiceName(ServiceName(mi)).
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(selectorLabels(mi))).
		WithPodManagementPolicy(appsv1.OrderedReadyPodManagement).
		WithUpdateStrategy(appsv1ac.StatefulSetUpdateStrategy().WithType(appsv1.RollingUpdateStatefulSetStrategyType)).
		WithPersistentVolumeClaimRetentionPolicy(appsv1ac.StatefulSetPersistentVolumeClaimRetentionPolicy().
			WithWhenDeleted(whenDeleted).
			WithWhenScaled(appsv1.RetainPersistentVolumeClaimRetentionPolicyType)).
		WithTemplate(buildPodTemplate(mi, opts))
	if mi.Spec.Database == nil {
		spec.WithVolumeClaimTemplates(buildDataClaim(mi))
	}
	return appsv1ac.StatefulSet(StatefulSetName(mi), mi.Namespace).
		WithLabels(Labels(mi)).
		WithOwnerReferences(ownerReference(mi)).
		WithSpec(spec)
}

// buildDataClaim is the claim template of the data volume (SQLite store and media).
func buildDataClaim(mi *v1alpha1.MessengerInstance) *corev1ac.PersistentVolumeClaimApplyConfiguration {
	size := resource.MustParse(DefaultStorageSize)
	var class *string
	if st := mi.Spec.Storage; st != nil {
		if st.Size != nil {
			size = *st.Size
		}
		class = st.StorageClassName
	}
	spec := corev1ac.PersistentVolumeClaimSpec().
		WithAccessModes(corev1.ReadWriteOnce).
		WithResources(corev1ac.VolumeResourceRequirements().
			WithRequests(corev1.ResourceList{corev1.ResourceStorage: size}))
	if class != nil {
		spec.WithStorageClassName(*class)
	}
	return corev1ac.PersistentVolumeClaim("data", "").WithLabels(selectorLabels(mi)).WithSpec(spec)
}

// buildPodTemplate is the pod of the instance: non-root, read-only root filesystem, probes on
// /healthz and /readyz, scheduling fields from the spec.
func buildPodTemplate(mi *v1alpha1.MessengerInstance, opts BuildOptions) *corev1ac.PodTemplateSpecApplyConfiguration {
	pod := corev1ac.PodSpec().
		WithServiceAccountName(ServiceAccountName(mi)).
		WithAutomountServiceAccountToken(true).
		WithEnableServiceLinks(false).
		WithTerminationGracePeriodSeconds(30).
		WithSecurityContext(corev1ac.PodSecurityContext().
			WithRunAsNonRoot(true).
			WithRunAsUser(nonRootUID).
			WithRunAsGroup(nonRootUID).
			WithFSGroup(nonRootUID).
			WithSeccompProfile(corev1ac.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
		WithContainers(buildContainer(mi, opts)).
		WithVolumes(corev1ac.Volume().WithName("tmp").WithEmptyDir(corev1ac.EmptyDirVolumeSource()))
	if mi.Spec.Database != nil {
		// The session is in PostgreSQL; media still need a scratch directory.
		pod.WithVolumes(corev1ac.Volume().WithName("data").WithEmptyDir(corev1ac.EmptyDirVolumeSource()))
	}
	withNATSCredentials(mi, pod)
	if len(mi.Spec.NodeSelector) > 0 {
		pod.WithNodeSelector(mi.Spec.NodeSelector)
	}
	for i := range mi.Spec.Tolerations {
		pod.WithTolerations(tolerationAC(&mi.Spec.Tolerations[i]))
	}
	if mi.Spec.Affinity != nil {
		pod.WithAffinity(affinityAC(mi.Spec.Affinity))
	}
	tmpl := corev1ac.PodTemplateSpec().WithLabels(Labels(mi)).WithSpec(pod)
	if v := rebootValue(mi); v != "" {
		tmpl.WithAnnotations(map[string]string{RestartedAtAnnotation: v})
	}
	return tmpl
}

// ReadinessPeriodSeconds is the period of the instance container's readiness probe (/readyz). It
// only decides whether the pod's Service sends it traffic; the gateway polls /readyz itself when it
// wakes an instance, and nothing else waits for the pod's Ready. 10 s (was 5 s) halves the probe
// requests of an idle fleet (docs/benchmarks.md, "Density"); with 3 failures a broken instance
// leaves its Service within 30 s.
const ReadinessPeriodSeconds = 10

// buildContainer runs `messenger-operator instance`, configured through the MESSENGER_* twins of
// its flags.
func buildContainer(mi *v1alpha1.MessengerInstance, opts BuildOptions) *corev1ac.ContainerApplyConfiguration {
	image := mi.Spec.Image
	if image == "" {
		image = opts.DefaultImage
	}
	probe := func(path string, period int32) *corev1ac.ProbeApplyConfiguration {
		return corev1ac.Probe().
			WithHTTPGet(corev1ac.HTTPGetAction().WithPath(path).WithPort(intstr.FromString("http"))).
			WithPeriodSeconds(period).
			WithTimeoutSeconds(5).
			WithFailureThreshold(3)
	}
	c := corev1ac.Container().
		WithName(ContainerName).
		WithImage(image).
		WithCommand("messenger-operator").
		WithArgs("instance").
		WithPorts(corev1ac.ContainerPort().WithName("http").WithContainerPort(HTTPPort).WithProtocol(corev1.ProtocolTCP)).
		WithEnv(buildEnv(mi, opts)...).
		WithLivenessProbe(probe("/healthz", 10)).
		WithReadinessProbe(probe("/readyz", ReadinessPeriodSeconds)).
		WithSecurityContext(corev1ac.SecurityContext().
			WithRunAsNonRoot(true).
			WithReadOnlyRootFilesystem(true).
			WithAllowPrivilegeEscalation(false).
			WithCapabilities(corev1ac.Capabilities().WithDrop("ALL"))).
		WithVolumeMounts(
			corev1ac.VolumeMount().WithName("data").WithMountPath(DataDir),
			corev1ac.VolumeMount().WithName("tmp").WithMountPath("/tmp"))
	if mi.Spec.Events != nil && mi.Spec.Events.NATS != nil && mi.Spec.Events.NATS.CredentialsSecretRef != nil {
		c.WithVolumeMounts(corev1ac.VolumeMount().WithName(natsCredentialsVolume).WithMountPath(NATSCredentialsDir).WithReadOnly(true))
	}
	if r := mi.Spec.Resources; r != nil {
		res := corev1ac.ResourceRequirements()
		if len(r.Limits) > 0 {
			res.WithLimits(r.Limits)
		}
		if len(r.Requests) > 0 {
			res.WithRequests(r.Requests)
		}
		c.WithResources(res)
	}
	return c
}

// buildEnv maps the spec onto the instance server's flags (environment twins). Secrets stay in
// Secrets: the pod reads them through secretKeyRef, the operator never copies them.
func buildEnv(mi *v1alpha1.MessengerInstance, opts BuildOptions) []*corev1ac.EnvVarApplyConfiguration {
	fieldEnv := func(name, path string) *corev1ac.EnvVarApplyConfiguration {
		return corev1ac.EnvVar().WithName(name).WithValueFrom(corev1ac.EnvVarSource().
			WithFieldRef(corev1ac.ObjectFieldSelector().WithFieldPath(path)))
	}
	secretEnv := func(name, secret, key string) *corev1ac.EnvVarApplyConfiguration {
		return corev1ac.EnvVar().WithName(name).WithValueFrom(corev1ac.EnvVarSource().
			WithSecretKeyRef(corev1ac.SecretKeySelector().WithName(secret).WithKey(key)))
	}
	value := func(name, v string) *corev1ac.EnvVarApplyConfiguration {
		return corev1ac.EnvVar().WithName(name).WithValue(v)
	}
	tokenName, tokenKey := TokenSecret(mi)
	env := []*corev1ac.EnvVarApplyConfiguration{
		value("MESSENGER_LISTEN", ":8080"),
		value("MESSENGER_DATA_DIR", DataDir),
		fieldEnv("MESSENGER_INSTANCE_NAME", "metadata.labels['"+LabelInstance+"']"),
		fieldEnv("MESSENGER_NAMESPACE", "metadata.namespace"),
		fieldEnv("MESSENGER_POD_NAME", "metadata.name"),
		value("MESSENGER_LEASE_NAME", LeaseName(mi)),
		secretEnv("MESSENGER_TOKEN", tokenName, tokenKey),
		// Media links in webhooks point at the Service, never at a request's Host header.
		value("MESSENGER_PUBLIC_URL", Endpoint(mi)),
	}
	if nets := WebhookAllowNetworks(mi, opts); len(nets) > 0 {
		env = append(env, value("MESSENGER_WEBHOOK_ALLOW_NETWORKS", strings.Join(nets, ",")))
	}
	if db := mi.Spec.Database; db != nil {
		env = append(env, secretEnv("MESSENGER_DATABASE", db.SecretRef.Name, keyOr(db.SecretRef.Key, DefaultDatabaseKey)))
	}
	if mi.Spec.NetworkURL != "" {
		env = append(env, value("MESSENGER_NETWORK_URL", mi.Spec.NetworkURL))
	}
	// webhook.url and webhook.ackNotifications are not in the environment: the instance's kube
	// agent applies them live from the resource, so changing them does not restart the pod.
	if wh := mi.Spec.Webhook; wh != nil && wh.SecretRef != nil {
		env = append(env, secretEnv("MESSENGER_WEBHOOK_SECRET", wh.SecretRef.Name, keyOr(wh.SecretRef.Key, DefaultWebhookSecretKey)))
	}
	if px := mi.Spec.Proxy; px != nil {
		env = append(env, secretEnv("MESSENGER_PROXY", px.SecretRef.Name, keyOr(px.SecretRef.Key, DefaultProxyKey)))
	}
	return append(env, natsEnv(mi)...)
}
