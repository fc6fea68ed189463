package gateway

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's Prometheus series (its own registry, served by OpsHandler).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	rejected *prometheus.CounterVec
	duration prometheus.Histogram
	wakes    *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "messenger_gateway_requests_total", Help: "Requests through the gateway by status code.",
		}, []string{"code"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "messenger_gateway_rejected_total",
			Help: "Requests the gateway answered itself, by reason (no route, unauthenticated, scope, rate, ...).",
		}, []string{"reason"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "messenger_gateway_request_duration_seconds", Help: "Time to answer a request through the gateway.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		wakes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "messenger_gateway_wake_seconds",
			Help:    "Time from a call to a hibernated instance until it served (outcome served) or the wait gave up (timeout).",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 9),
		}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.requests, m.rejected, m.duration, m.wakes, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observe(code int, d time.Duration) {
	m.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	m.duration.Observe(d.Seconds())
}

func (m *metrics) reject(reason string) { m.rejected.WithLabelValues(reason).Inc() }

func (m *metrics) wake(outcome string, d time.Duration) {
	m.wakes.WithLabelValues(outcome).Observe(d.Seconds())
}

// OpsHandler serves /healthz, /readyz (informers synced) and /metrics, apart from the API port.
func (g *Gateway) OpsHandler() http.Handler {
	g.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "messenger_gateway_routes", Help: "MessengerInstances the gateway can route to.",
	}, func() float64 { return float64(g.routeCount(context.Background())) }))
	g.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "messenger_gateway_default_key_rate", Help: "Default requests/s of an API key (0: no limit).",
	}, func() float64 { return g.opts.KeyLimit.Rate }))
	g.metrics.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "messenger_gateway_instance_rate", Help: "Requests/s allowed to one instance (0: no limit).",
	}, func() float64 { return g.opts.InstanceLimit.Rate }))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if !g.cache.WaitForCacheSync(ctx) {
			http.Error(w, "informers not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}
