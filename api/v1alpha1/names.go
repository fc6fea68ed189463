package v1alpha1

// Annotations users set on a MessengerInstance to request an action. Any new value is one request;
// the value acted on is recorded in status (lastHandledReboot, lastHandledLogout).
const (
	// RebootAnnotation restarts the instance pod once per new value.
	RebootAnnotation = "messenger-operator.io/reboot"
	// LogoutAnnotation logs the account out once per new value (carried out by the instance).
	LogoutAnnotation = "messenger-operator.io/logout"
	// WakeAnnotation wakes a hibernated instance once per new value (the gateway sets it on a
	// call; a user may too). The value acted on is status.hibernation.lastHandledWake.
	WakeAnnotation = "messenger-operator.io/wake"
	// LastCallAnnotation is the time (RFC 3339) of the last API call the gateway forwarded to a
	// hibernating instance; the gateway writes it at most every few seconds.
	LastCallAnnotation = "messenger-operator.io/last-call"
)

// Condition types of a MessengerInstance.
const (
	// ConditionReady is True when the pod serves and the account is authenticated, or the
	// instance is suspended.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the operator is still bringing children to the spec.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the operator cannot make progress without a change by the user.
	ConditionStalled = "Stalled"
	// ConditionHibernated is True while spec.hibernation has scaled the idle instance to zero.
	ConditionHibernated = "Hibernated"
	// ConditionAuthenticated is written by the instance: True when the account is logged in.
	ConditionAuthenticated = "Authenticated"
)

// AccountStatusAuthenticated is the accountStatus of a logged-in account (the seed's strings:
// init, loading, got qr code, authenticated).
const AccountStatusAuthenticated = "authenticated"
