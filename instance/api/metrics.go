package api

import (
	"context"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	enqueued *prometheus.CounterVec
	webhooks *prometheus.CounterVec
	latency  prometheus.Histogram
}

func newMetrics(reg *prometheus.Registry, st *store.Store, eng account.Engine) (*metrics, error) {
	m := &metrics{
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
	authenticated := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "messenger_account_authenticated",
		Help: "1 when the WhatsApp account is authenticated."}, func() float64 {
		if eng.Status().AccountStatus == account.StatusAuthenticated {
			return 1
		}
		return 0
	})
	extra := append(outboxGauges(st), sendCounters(eng)...)
	for _, c := range append([]prometheus.Collector{m.requests, m.duration, m.enqueued, m.webhooks, m.latency, queueLen,
		lastNumber, authenticated, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})},
		extra...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) handler() gin.HandlerFunc {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return func(c *gin.Context) { h.ServeHTTP(c.Writer, c.Request) }
}

func (m *metrics) observeRequest(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) webhookObserve(outcome string, _ int, age time.Duration) {
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
