package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
)

// Metrics are the operator's domain metrics, registered on controller-runtime's registry by the
// command (controller-runtime adds its own reconcile counters and latencies).
type Metrics struct {
	// Instances counts MessengerInstances by status.accountStatus ("unknown" when unset).
	Instances *prometheus.GaugeVec
	// ReconcileErrors counts failed reconciles by condition reason: ReconcileFailed (retried)
	// or a Stalled reason (SecretNotFound, InvalidSpec).
	ReconcileErrors *prometheus.CounterVec
	// Hibernations counts hibernation transitions: hibernate, and wake by Requested or Schedule.
	Hibernations *prometheus.CounterVec

	mu     sync.Mutex
	byName map[types.NamespacedName]string
}

// NewMetrics creates the metrics; register them with Register.
func NewMetrics() *Metrics {
	return &Metrics{
		Instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "messenger_operator_instances",
			Help: "MessengerInstances by account status.",
		}, []string{"account_status"}),
		ReconcileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "messenger_operator_reconcile_errors_total",
			Help: "Reconciles of MessengerInstances that failed, by reason.",
		}, []string{"reason"}),
		Hibernations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "messenger_operator_hibernation_transitions_total",
			Help: "Hibernation transitions of MessengerInstances: hibernate, wake (by reason Requested or Schedule).",
		}, []string{"transition", "reason"}),
		byName: map[types.NamespacedName]string{},
	}
}

// Register adds the metrics to reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.Instances, m.ReconcileErrors, m.Hibernations} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// observe records the account status of one instance; gone=true forgets it.
func (m *Metrics) observe(key types.NamespacedName, accountStatus string, gone bool) {
	if m == nil {
		return
	}
	if accountStatus == "" {
		accountStatus = "unknown"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old, known := m.byName[key]
	if known && !gone && old == accountStatus {
		return
	}
	if known {
		m.Instances.WithLabelValues(old).Dec()
		delete(m.byName, key)
	}
	if !gone {
		m.byName[key] = accountStatus
		m.Instances.WithLabelValues(accountStatus).Inc()
	}
}

// reconcileError counts one failed reconcile.
func (m *Metrics) reconcileError(reason string) {
	if m == nil {
		return
	}
	m.ReconcileErrors.WithLabelValues(reason).Inc()
}

// hibernationTransition counts one hibernation transition.
func (m *Metrics) hibernationTransition(transition, reason string) {
	if m == nil {
		return
	}
	m.Hibernations.WithLabelValues(transition, reason).Inc()
}
