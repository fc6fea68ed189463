// Package metrics holds the instance server's Prometheus metrics: HTTP requests, sends queued,
// webhook deliveries, and gauges read from the store and the engine. It is built first, so the
// webhook dispatcher and the HTTP API are both handed the same Metrics.
package metrics

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// Metrics are the instance's collectors, registered on one registry.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	enqueued *prometheus.CounterVec
	webhooks *prometheus.CounterVec
	latency  prometheus.Histogram
}

// New registers the counters and the Go and process collectors on reg (nil: a private registry).
// The gauges of the store and the engine come with WatchStore and WatchEngine once they exist.
func New(reg *prometheus.Registry) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "messenger_http_requests_total",
			Help: "HTTP requests by route, method and status code."}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "messenger_http_request_duration_seconds",
			Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route"}),
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "messenger_queue_enqueued_total",
			Help: "Sends accepted into the outbound queue by kind."}, []string{"kind"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "messenger_webhook_attempts_total",
			Help: "Webhook batch delivery attempts by outcome."}, []string{"outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "messenger_webhook_delivery_latency_seconds",
			Help:    "Time from an event entering the webhook outbox to its delivery.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 12)}),
	}
	if err := m.register(m.requests, m.duration, m.enqueued, m.webhooks, m.latency, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return fmt.Errorf("registering a metric: %w", err)
		}
	}
	return nil
}

// WatchStore adds the gauges read from the store: the queue length, the last message number and
// the webhook outbox.
func (m *Metrics) WatchStore(st *store.Store) error {
	queueLen := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "messenger_queue_length",
		Help: "Sends waiting in the outbound queue."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, _, err := st.ListQueue(ctx, 0)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	lastNumber := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "messenger_last_message_number",
		Help: "Highest message number in the journal."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := st.LastMessageNumber(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	return m.register(append([]prometheus.Collector{queueLen, lastNumber}, outboxGauges(st)...)...)
}

// WatchEngine adds the gauge of the account's authentication and, when the engine keeps them, the
// counters of its send outcomes and its liveness: the last server contact and the reconnects.
func (m *Metrics) WatchEngine(eng account.Engine) error {
	authenticated := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "messenger_account_authenticated",
		Help: "1 when the WhatsApp account is authenticated."}, func() float64 {
		if eng.Status().AccountStatus == account.StatusAuthenticated {
			return 1
		}
		return 0
	})
	cs := append([]prometheus.Collector{authenticated}, sendCounters(eng)...)
	return m.register(append(cs, livenessMetrics(eng)...)...)
}

// livenessMetrics report when the server last sent anything and how often the connection was
// made again, when the engine proves its connection.
func livenessMetrics(eng account.Engine) []prometheus.Collector {
	l, ok := eng.(account.Liveness)
	if !ok {
		return nil
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "messenger_last_server_contact_seconds",
			Help: "Unix time of the last frame received from WhatsApp (0: none yet)."}, func() float64 {
			if t := l.LastContact(); !t.IsZero() {
				return float64(t.UnixMilli()) / 1000
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "messenger_reconnects_total",
			Help: "Connections to WhatsApp made again after one was lost or dropped (stale)."}, func() float64 {
			return float64(l.Reconnects())
		}),
	}
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// ObserveRequest counts one HTTP request of route and records its latency.
func (m *Metrics) ObserveRequest(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// Enqueued counts one send of kind accepted into the queue.
func (m *Metrics) Enqueued(kind string) { m.enqueued.WithLabelValues(kind).Inc() }

// ObserveWebhook counts one webhook delivery attempt (the webhook dispatcher's Observe hook); a
// delivered batch also records how long its oldest event waited.
func (m *Metrics) ObserveWebhook(outcome string, _ int, age time.Duration) {
	m.webhooks.WithLabelValues(outcome).Inc()
	if outcome == "delivered" {
		m.latency.Observe(age.Seconds())
	}
}

// outboxGauges report the webhook backlog: events not yet in a batch, batches waiting for
// delivery, and batches given up after the retry window.
func outboxGauges(st *store.Store) []prometheus.Collector {
	read := func(pick func(events, batches, dead int) int) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			events, batches, dead, err := st.OutboxStats(ctx)
			if err != nil {
				return -1
			}
			return float64(pick(events, batches, dead))
		}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "messenger_webhook_outbox_events",
			Help: "Webhook events waiting to be put into a batch."}, read(func(e, _, _ int) int { return e })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "messenger_webhook_outbox_batches",
			Help: "Webhook batches waiting for delivery.", ConstLabels: prometheus.Labels{"state": "pending"}},
			read(func(_, b, _ int) int { return b })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "messenger_webhook_outbox_batches",
			Help: "Webhook batches waiting for delivery.", ConstLabels: prometheus.Labels{"state": "dead"}},
			read(func(_, _, d int) int { return d })),
	}
}

// sendCounters count the engine's send outcomes when it keeps them.
func sendCounters(eng account.Engine) []prometheus.Collector {
	stats, ok := eng.(account.SendStats)
	if !ok {
		return nil
	}
	counter := func(outcome string, pick func(sent, failed uint64) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "messenger_sends_total",
			Help:        "Queued sends by outcome: sent (accepted by WhatsApp) or failed (for good).",
			ConstLabels: prometheus.Labels{"outcome": outcome}}, func() float64 {
			return float64(pick(stats.SendStats()))
		})
	}
	return []prometheus.Collector{
		counter("sent", func(s, _ uint64) uint64 { return s }),
		counter("failed", func(_, f uint64) uint64 { return f }),
	}
}
