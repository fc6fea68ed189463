package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to the WhatsApp session when a MessengerInstance is deleted.
// +kubebuilder:validation:Enum=Retain;Logout
type DeletionPolicy string

const (
	// DeletionPolicyRetain keeps the session: the data volume is retained and the linked device
	// stays registered on the phone, so a new instance on the same volume resumes it.
	DeletionPolicyRetain DeletionPolicy = "Retain"
	// DeletionPolicyLogout asks the instance to log the account out before its children go, and
	// deletes the data volume with the StatefulSet.
	DeletionPolicyLogout DeletionPolicy = "Logout"
)

// SecretKeyReference points at one key of a Secret in the instance's namespace.
type SecretKeyReference struct {
	// name of the Secret, in the namespace of the MessengerInstance.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Name string `json:"name"`
	// key inside the Secret; each reference documents its default.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +optional
	Key string `json:"key,omitempty"`
}

// WebhookSpec configures where the instance posts incoming messages and acks.
type WebhookSpec struct {
	// url receives the webhook POSTs; it must be an absolute http or https URL.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="webhook.url must be an absolute http:// or https:// URL"
	// +required
	URL string `json:"url"`
	// secretRef names the Standard Webhooks signing key (`whsec_<base64>` or raw); key defaults to
	// "secret". Without it webhooks are sent unsigned.
	// +optional
	SecretRef *SecretKeyReference `json:"secretRef,omitempty"`
	// ackNotifications adds delivery acks (sent, delivered, viewed, failed) to webhook payloads.
	// +optional
	AckNotifications bool `json:"ackNotifications,omitempty"`
	// allowNetworks are CIDRs (such as 10.96.0.0/12) on which webhook destinations are allowed
	// although they are private or loopback addresses, added to the operator's
	// --webhook-allow-networks (the cluster's networks). Any other private, loopback, link-local or
	// metadata destination is refused. Changing it restarts the pod.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",message="webhook.allowNetworks must hold CIDRs such as 10.96.0.0/12 or fd00::/8"
	// +listType=atomic
	// +optional
	AllowNetworks []string `json:"allowNetworks,omitempty"`
}

// EventsSpec configures where the instance's events go besides the webhook and GET /events.
type EventsSpec struct {
	// nats publishes every event (the webhook payloads, one event each) to NATS JetStream.
	// +optional
	NATS *NATSSpec `json:"nats,omitempty"`
}

// NATSSpec is a NATS JetStream sink: subjects <subjectPrefix>.<namespace>.<name>.<kind>, one
// message per event, Nats-Msg-Id the event id (JetStream drops the copies a retry sends).
type NATSSpec struct {
	// url of the NATS server(s): nats://, tls://, ws:// or wss://; several comma separated.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.matches('^(nats|tls|ws|wss)://[^,/ ]+(/[^, ]*)?(,(nats|tls|ws|wss)://[^,/ ]+(/[^, ]*)?)*$')",message="events.nats.url must be nats://, tls://, ws:// or wss:// URLs, comma separated"
	// +required
	URL string `json:"url"`
	// subjectPrefix starts every subject (default "messenger").
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`
	// +optional
	SubjectPrefix string `json:"subjectPrefix,omitempty"`
	// stream is the JetStream stream holding the subjects (default "MESSENGER").
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]+$`
	// +optional
	Stream string `json:"stream,omitempty"`
	// createStream creates the stream (capturing <subjectPrefix>.>) when it is missing (default true).
	// +optional
	CreateStream *bool `json:"createStream,omitempty"`
	// credentialsSecretRef names a Secret with the NATS credentials: key "creds" (a .creds file:
	// JWT and NKey seed), or "user" and "password", or "token". Its key field is not used.
	// +optional
	CredentialsSecretRef *SecretKeyReference `json:"credentialsSecretRef,omitempty"`
}

// SettingsSpec sets instance settings from the resource. A field set here wins over POST /settings,
// which then refuses to change it (409); a field left out stays whatever the API set.
type SettingsSpec struct {
	// sendDelay is the least time between two sends of the queue, such as "2s" (at most 1h).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="settings.sendDelay must be a duration between 0s and 1h"
	// +optional
	SendDelay *metav1.Duration `json:"sendDelay,omitempty"`
	// sendJitter is the most random time added to sendDelay before each send (at most 1h).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('1h')",message="settings.sendJitter must be a duration between 0s and 1h"
	// +optional
	SendJitter *metav1.Duration `json:"sendJitter,omitempty"`
	// dailyLimit is the most sends per day (UTC); sends beyond it wait for the next day. 0 is no limit.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	// +optional
	DailyLimit *int32 `json:"dailyLimit,omitempty"`
	// chatUpdateOn adds group events (participants added, removed, promoted, demoted; subject
	// changes) to webhooks.
	// +optional
	ChatUpdateOn *bool `json:"chatUpdateOn,omitempty"`
	// ignoreOldMessages keeps messages that reached the account while the instance was away out of
	// webhooks (they are still journaled).
	// +optional
	IgnoreOldMessages *bool `json:"ignoreOldMessages,omitempty"`
}

// HibernationSpec scales an idle instance to zero pods (the session is kept) and wakes it on a
// call through the gateway or on a schedule.
type HibernationSpec struct {
	// idleAfter is how long the instance must go without API calls through the gateway, incoming or
	// outgoing messages and queued sends before it is scaled to zero, such as "15m" (1s to 720h).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('720h')",message="hibernation.idleAfter must be a duration between 1s and 720h"
	// +required
	IdleAfter metav1.Duration `json:"idleAfter"`
	// wakeEvery wakes a hibernated instance this often, such as "6h" (1m to 720h), to collect the
	// messages WhatsApp kept for it; it sleeps again after the operator's collect window unless
	// there was activity. Without it a hibernated instance wakes only on a call.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('720h')",message="hibernation.wakeEvery must be a duration between 1m and 720h"
	// +optional
	WakeEvery *metav1.Duration `json:"wakeEvery,omitempty"`
}

// StorageSpec sizes the PersistentVolumeClaim that holds the SQLite store and media.
type StorageSpec struct {
	// size of the volume, a Kubernetes quantity such as 1Gi (the default).
	// +kubebuilder:default="1Gi"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="storage.size must be a positive quantity such as 1Gi"
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`
	// storageClassName of the volume; empty uses the cluster's default class.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// DatabaseSpec stores the session in PostgreSQL instead of SQLite on a volume.
type DatabaseSpec struct {
	// secretRef names the PostgreSQL DSN (`postgres://…`); key defaults to "dsn".
	// +required
	SecretRef SecretKeyReference `json:"secretRef"`
}

// ProxySpec routes the WhatsApp connection through a proxy.
type ProxySpec struct {
	// secretRef names the proxy URL (`socks5://…` or `http://…`, credentials included); key
	// defaults to "url".
	// +required
	SecretRef SecretKeyReference `json:"secretRef"`
}

// MessengerInstanceSpec is the desired state of one WhatsApp account. Every field is optional.
// +kubebuilder:validation:XValidation:rule="!(has(self.storage) && has(self.database))",message="storage and database are mutually exclusive: the session lives either on a volume or in PostgreSQL"
// +kubebuilder:validation:XValidation:rule="has(self.storage) == has(oldSelf.storage) && has(self.database) == has(oldSelf.database)",message="the session backend (storage or database) cannot be switched after creation"
type MessengerInstanceSpec struct {
	// image of the instance server; empty uses the operator's --instance-image.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`
	// suspend scales the instance to zero pods and keeps its session for later.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// webhook configures delivery of incoming messages and acks.
	// +optional
	Webhook *WebhookSpec `json:"webhook,omitempty"`
	// events configures event sinks besides the webhook (NATS JetStream).
	// +optional
	Events *EventsSpec `json:"events,omitempty"`
	// settings sets the pacing of sends and other instance settings; what it sets, the API cannot change.
	// +optional
	Settings *SettingsSpec `json:"settings,omitempty"`
	// tokenSecretRef names the API token that clients must present; key defaults to "token".
	// Without it the operator generates the Secret <name>-token once and never overwrites it.
	// +optional
	TokenSecretRef *SecretKeyReference `json:"tokenSecretRef,omitempty"`
	// storage sizes the volume that holds the SQLite store and media (1Gi by default when
	// database is not set). Immutable: a StatefulSet cannot change its volume claims.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="storage is immutable"
	// +optional
	Storage *StorageSpec `json:"storage,omitempty"`
	// database stores the session in PostgreSQL instead of SQLite on a volume.
	// +optional
	Database *DatabaseSpec `json:"database,omitempty"`
	// networkURL points the instance at a sandbox network instead of the real WhatsApp service.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && url(self).getHostname() != ''",message="networkURL must be an absolute http:// or https:// URL"
	// +optional
	NetworkURL string `json:"networkURL,omitempty"`
	// proxy routes the WhatsApp connection through a proxy.
	// +optional
	Proxy *ProxySpec `json:"proxy,omitempty"`
	// resources of the instance container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// nodeSelector of the instance pod.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// tolerations of the instance pod.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// affinity of the instance pod.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// instanceId is the number of the chat-api.com style URL prefix /instance<id>/ under which the
	// gateway routes this instance (digits only, unique across the cluster: a later resource
	// claiming the id of an earlier one is Stalled). Empty: reachable only as /<namespace>/<name>/.
	// +kubebuilder:validation:MaxLength=18
	// +kubebuilder:validation:Pattern=`^[0-9]+$`
	// +optional
	InstanceID string `json:"instanceId,omitempty"`
	// hibernation scales the instance to zero when idle and wakes it on a call through the gateway
	// (or on a schedule); the session is kept. Condition Hibernated reports it.
	// +optional
	Hibernation *HibernationSpec `json:"hibernation,omitempty"`
	// deletionPolicy says what happens to the session when this resource is deleted: Retain (the
	// default) keeps the volume; Logout logs the account out first and deletes the volume.
	// +kubebuilder:default=Retain
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// HibernationStatus is the operator's record of activity and wakes (spec.hibernation set).
type HibernationStatus struct {
	// lastActivityTime is the last activity the operator counted: an API call through the gateway
	// (annotation messenger-operator.io/last-call), a change of lastMessageNumber, queued sends,
	// or a wake request.
	// +optional
	LastActivityTime *metav1.Time `json:"lastActivityTime,omitempty"`
	// observedMessageNumber is lastMessageNumber when the operator last counted it as activity.
	// +optional
	ObservedMessageNumber int64 `json:"observedMessageNumber,omitempty"`
	// lastWakeTime is when the operator last woke the instance.
	// +optional
	LastWakeTime *metav1.Time `json:"lastWakeTime,omitempty"`
	// lastWakeReason is why: Requested (a call through the gateway or the wake annotation) or
	// Schedule (wakeEvery).
	// +optional
	LastWakeReason string `json:"lastWakeReason,omitempty"`
	// lastHandledWake is the last value of the messenger-operator.io/wake annotation acted on.
	// +optional
	LastHandledWake string `json:"lastHandledWake,omitempty"`
	// nextWakeTime is when wakeEvery wakes the hibernated instance next.
	// +optional
	NextWakeTime *metav1.Time `json:"nextWakeTime,omitempty"`
}

// MessengerInstanceStatus is the observed state. The operator writes observedGeneration, the
// Ready, Reconciling and Stalled conditions, endpoint, tokenSecretName and lastHandledReboot; the
// instance's kube agent writes the account fields and the Authenticated condition with
// server-side apply under its own field manager.
type MessengerInstanceStatus struct {
	// observedGeneration is the metadata.generation the operator last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, Reconciling and Stalled (kstatus style, set by the operator), Hibernated
	// (set by the operator when spec.hibernation is set) and Authenticated (set by the instance).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// accountStatus of the WhatsApp account: init, loading, got qr code or authenticated.
	// +optional
	AccountStatus string `json:"accountStatus,omitempty"`
	// qrCode to scan while accountStatus is "got qr code", as a data:image/png;base64 URI.
	// Anyone who can read this resource can pair a phone with it.
	// +optional
	QRCode string `json:"qrCode,omitempty"`
	// phone number of the authenticated account.
	// +optional
	Phone string `json:"phone,omitempty"`
	// webhookUrl the instance actually posts to.
	// +optional
	WebhookURL string `json:"webhookUrl,omitempty"`
	// endpoint is the in-cluster URL of the instance's HTTP API.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// tokenSecretName is the Secret that holds the API token (key "token" unless tokenSecretRef
	// says otherwise).
	// +optional
	TokenSecretName string `json:"tokenSecretName,omitempty"`
	// queueLength is the number of outgoing messages not yet sent.
	// +optional
	QueueLength int64 `json:"queueLength,omitempty"`
	// lastMessageNumber is the highest messageNumber given to a message.
	// +optional
	LastMessageNumber int64 `json:"lastMessageNumber,omitempty"`
	// lastHandledReboot is the last value of the messenger-operator.io/reboot annotation acted on.
	// +optional
	LastHandledReboot string `json:"lastHandledReboot,omitempty"`
	// lastHandledLogout is the last value of the messenger-operator.io/logout annotation acted on.
	// +optional
	LastHandledLogout string `json:"lastHandledLogout,omitempty"`
	// hibernation records activity and wakes when spec.hibernation is set (written by the operator).
	// +optional
	Hibernation *HibernationStatus `json:"hibernation,omitempty"`
}

// MessengerInstance runs one WhatsApp account: a StatefulSet of one pod serving the Chat API,
// with its Service, token Secret and a ServiceAccount that may only touch this resource.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mi,categories=messenger
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.accountStatus`
// +kubebuilder:printcolumn:name="Phone",type=string,JSONPath=`.status.phone`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Hibernated",type=string,JSONPath=`.status.conditions[?(@.type=="Hibernated")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 52 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter) of at most 52 characters: it names the StatefulSet and the Service"
// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.tokenSecretRef) || self.spec.tokenSecretRef.name != self.metadata.name + '-token'",message="spec.tokenSecretRef must not name <name>-token: that name is reserved for the generated token Secret"
type MessengerInstance struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the desired state.
	// +optional
	Spec MessengerInstanceSpec `json:"spec,omitzero"`

	// status is the observed state.
	// +optional
	Status MessengerInstanceStatus `json:"status,omitzero"`
}

// MessengerInstanceList is a list of MessengerInstances.
//
// +kubebuilder:object:root=true
type MessengerInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard list metadata.
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	// items are the MessengerInstances.
	Items []MessengerInstance `json:"items"`
}

func init() {
	SchemeBuilder.Register(&MessengerInstance{}, &MessengerInstanceList{})
}
