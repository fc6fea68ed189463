// Package controllers holds the reconciler of MessengerInstance: pure builders of its children
// (StatefulSet, Service, token Secret, ServiceAccount, Role, RoleBinding, Lease), the condition
// logic, and the controller that applies them with server-side apply.
package controllers

import (
	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// FieldManager is the server-side-apply field manager of every write the operator makes. The
// instance's kube agent uses a different one, so the two never clobber each other's fields.
const FieldManager = "messenger-operator"

// Finalizer holds a MessengerInstance with deletionPolicy Logout until the account is logged out.
const Finalizer = "messenger-operator.io/logout"

// Labels on every child (design contract).
const (
	// LabelName is app.kubernetes.io/name.
	LabelName = "app.kubernetes.io/name"
	// LabelInstance is app.kubernetes.io/instance, the MessengerInstance name.
	LabelInstance = "app.kubernetes.io/instance"
	// LabelManagedBy is app.kubernetes.io/managed-by.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// LabelNameValue is the value of app.kubernetes.io/name on children.
	LabelNameValue = "messenger-instance"
	// LabelManagedByValue is the value of app.kubernetes.io/managed-by on children.
	LabelManagedByValue = "messenger-operator"
)

// RestartedAtAnnotation is the pod-template annotation that `kubectl rollout restart` uses; a new
// value rolls the pod.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// Fixed layout of the instance pod.
const (
	// ContainerName is the name of the instance container.
	ContainerName = "instance"
	// HTTPPort is the port of the instance's HTTP API and probes.
	HTTPPort = 8080
	// DataDir is where the data volume is mounted.
	DataDir = "/data"
	// DefaultStorageSize is the data volume size when spec.storage.size is unset.
	DefaultStorageSize = "1Gi"
	// DefaultTokenKey is the key of the API token in the token Secret.
	DefaultTokenKey = "token"
	// DefaultWebhookSecretKey is the key of the signing key in spec.webhook.secretRef.
	DefaultWebhookSecretKey = "secret"
	// DefaultDatabaseKey is the key of the PostgreSQL DSN in spec.database.secretRef.
	DefaultDatabaseKey = "dsn"
	// DefaultProxyKey is the key of the proxy URL in spec.proxy.secretRef.
	DefaultProxyKey = "url"
	// nonRootUID is the user and group the instance runs as (distroless "nonroot").
	nonRootUID = 65532
)

// Children names, all derived from the MessengerInstance name.

// StatefulSetName is the name of the instance's StatefulSet (and its pod is <name>-0).
func StatefulSetName(mi *v1alpha1.MessengerInstance) string { return mi.Name }

// ServiceName is the name of the instance's Service.
func ServiceName(mi *v1alpha1.MessengerInstance) string { return mi.Name }

// GeneratedTokenSecretName is the name of the token Secret the operator generates.
func GeneratedTokenSecretName(mi *v1alpha1.MessengerInstance) string { return mi.Name + "-token" }

// ServiceAccountName is the name of the instance's ServiceAccount, Role and RoleBinding.
func ServiceAccountName(mi *v1alpha1.MessengerInstance) string { return mi.Name + "-instance" }

// LeaseName is the coordination.k8s.io Lease the instance holds while it owns the WhatsApp
// connection (one live connection per account). The operator creates it empty; the instance
// acquires and renews it.
func LeaseName(mi *v1alpha1.MessengerInstance) string { return mi.Name + "-lease" }

// Endpoint is the in-cluster URL of the instance's HTTP API.
func Endpoint(mi *v1alpha1.MessengerInstance) string {
	return "http://" + ServiceName(mi) + "." + mi.Namespace + ".svc:8080"
}

// TokenSecret returns the Secret name and key that hold the instance's API token.
func TokenSecret(mi *v1alpha1.MessengerInstance) (name, key string) {
	if ref := mi.Spec.TokenSecretRef; ref != nil {
		return ref.Name, keyOr(ref.Key, DefaultTokenKey)
	}
	return GeneratedTokenSecretName(mi), DefaultTokenKey
}

// Labels returns the labels of every child of mi.
func Labels(mi *v1alpha1.MessengerInstance) map[string]string {
	return map[string]string{
		LabelName:      LabelNameValue,
		LabelInstance:  mi.Name,
		LabelManagedBy: LabelManagedByValue,
	}
}

// selectorLabels are the labels that select the instance pod (a subset of Labels that never changes).
func selectorLabels(mi *v1alpha1.MessengerInstance) map[string]string {
	return map[string]string{LabelName: LabelNameValue, LabelInstance: mi.Name}
}

func keyOr(key, def string) string {
	if key == "" {
		return def
	}
	return key
}

// rebootValue is the restartedAt value the pod template carries: the current reboot annotation,
// or the last handled one when the user removed the annotation (removing it must not roll the pod).
func rebootValue(mi *v1alpha1.MessengerInstance) string {
	if v := mi.Annotations[v1alpha1.RebootAnnotation]; v != "" {
		return v
	}
	return mi.Status.LastHandledReboot
}
