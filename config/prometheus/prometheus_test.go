// Package prometheus_test validates the alerts and the Grafana dashboard of config/prometheus
// against the metrics the code registers: an in-process instance server is scraped over HTTP,
// the operator's metrics and controller-runtime's are gathered from their registries.
package prometheus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
	"sigs.k8s.io/yaml"

	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/metrics"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// scrapeLabels are added by Prometheus (ServiceMonitor targets), not by the code.
var scrapeLabels = []string{"namespace", "pod", "service", "job", "instance", "container", "endpoint"}

// known maps every metric name the code exposes (histogram series included) to its label names.
type known map[string][]string

func (k known) add(families map[string]*dto.MetricFamily) {
	for name, f := range families {
		var labels []string
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()) {
					labels = append(labels, l.GetName())
				}
			}
		}
		k[name] = labels
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			k[name+"_bucket"] = append(slices.Clone(labels), "le")
			k[name+"_sum"], k[name+"_count"] = labels, labels
		case dto.MetricType_SUMMARY:
			k[name+"_sum"], k[name+"_count"] = labels, labels
		}
	}
}

// codeMetrics collects the metric names of the instance server, the operator and controller-runtime.
func codeMetrics(t *testing.T) known {
	t.Helper()
	k := known{}
	k.add(scrapeInstance(t))
	reg := prometheus.NewRegistry()
	m := controllers.NewMetrics()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	m.Instances.WithLabelValues(account.StatusAuthenticated).Set(1)
	m.ReconcileErrors.WithLabelValues(controllers.ReasonReconcileFailed).Inc()
	k.add(gather(t, reg))
	runController(t)
	k.add(gather(t, ctrlmetrics.Registry))
	return k
}

func gather(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// countingEngine is an engine without a WhatsApp connection that reports send outcomes, so the
// send counters exist.
type countingEngine struct{ account.NoEngine }

func (countingEngine) SendStats() (sent, failed uint64) { return 1, 0 }

// It proves its connection too, so the liveness metrics exist.
func (countingEngine) Stale() (bool, string)  { return false, "" }
func (countingEngine) LastContact() time.Time { return time.Now() }
func (countingEngine) Reconnects() uint64     { return 0 }

// scrapeInstance starts a real instance server (SQLite store, no WhatsApp engine), sends one
// message so the send counters exist, reports one webhook attempt of each outcome through the
// hook the dispatcher uses, and parses GET /metrics.
func scrapeInstance(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	md, err := media.Open(t.TempDir(), "media-secret")
	if err != nil {
		t.Fatal(err)
	}
	m, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(m.WatchStore(st), m.WatchEngine(countingEngine{})); err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Options{Store: st, Engine: countingEngine{}, Media: md,
		Fetcher: fetch.NewFetcher(fetch.Guard{}, 1<<20), Token: "tok", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	for _, outcome := range []string{"delivered", "failed", "dead"} {
		m.ObserveWebhook(outcome, 1, time.Second)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	resp, err := http.Post(hs.URL+"/sendMessage?token=tok", "application/json",
		strings.NewReader(`{"chatId":"15550001111@c.us","body":"hello"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sendMessage: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// runController runs a controller-runtime controller named like the operator's for one
// reconcile, so that its reconcile and work queue metrics exist in controller-runtime's registry.
func runController(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	c, err := controller.NewUnmanaged("messengerinstance", controller.Options{
		SkipNameValidation: ptr.To(true),
		Reconciler: reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
			select {
			case <-done:
			default:
				close(done)
			}
			return reconcile.Result{}, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Watch(source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(reconcile.Request{})
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- c.Start(ctx) }()
	select {
	case <-done:
	case err := <-stopped:
		cancel()
		t.Fatalf("controller stopped: %v", err)
	case <-time.After(time.Minute):
		cancel()
		t.Fatal("the controller did not reconcile within a minute")
	}
	cancel()
	<-stopped
}

// checkExpr reports the metrics and matcher labels of expr that the code does not expose.
func checkExpr(k known, expr string) []string {
	var problems []string
	sels := selectors(expr)
	if len(sels) == 0 {
		problems = append(problems, "names no metric")
	}
	for _, s := range sels {
		labels, ok := k[s.metric]
		if !ok {
			problems = append(problems, fmt.Sprintf("metric %s is not registered by the code", s.metric))
			continue
		}
		for _, l := range s.labels {
			if l != "__name__" && !slices.Contains(labels, l) && !slices.Contains(scrapeLabels, l) {
				problems = append(problems, fmt.Sprintf("metric %s has no label %q (has %v)", s.metric, l, labels))
			}
		}
	}
	return problems
}

type ruleFile struct {
	Kind string `json:"kind"`
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// TestAlerts checks every alert: structure, severity, and that its PromQL reads only metrics and
// labels the code registers. The three alerts the runbook promises must exist.
func TestAlerts(t *testing.T) {
	b, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(b, &struct {
		APIVersion string         `json:"apiVersion"`
		Metadata   map[string]any `json:"metadata"`
		*ruleFile
	}{ruleFile: &rf}); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	k := codeMetrics(t)
	var names []string
	for _, g := range rf.Spec.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if r.Alert == "" || r.Expr == "" || r.Annotations["summary"] == "" {
				t.Errorf("group %s: rule %q lacks alert, expr or summary", g.Name, r.Alert)
			}
			if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" {
				t.Errorf("%s: severity %q", r.Alert, sev)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for: %v", r.Alert, err)
				}
			}
			for _, p := range checkExpr(k, r.Expr) {
				t.Errorf("%s: %s", r.Alert, p)
			}
		}
	}
	for _, want := range []string{"MessengerQueueStuck", "MessengerAccountLoggedOut", "MessengerWebhookBacklog"} {
		if !slices.Contains(names, want) {
			t.Errorf("alert %s is missing", want)
		}
	}
}

// TestDashboard checks that dashboard.json parses, has unique panel ids and positions, and that
// every query reads only metrics and labels the code registers.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int            `json:"id"`
			Type    string         `json:"type"`
			Title   string         `json:"title"`
			GridPos map[string]int `json:"gridPos"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatal("dashboard lacks uid, title or panels")
	}
	k := codeMetrics(t)
	ids := map[int]bool{}
	queries := 0
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if _, ok := p.GridPos["w"]; !ok {
			t.Errorf("panel %q has no gridPos", p.Title)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			for _, prob := range checkExpr(k, tg.Expr) {
				t.Errorf("panel %q: %s", p.Title, prob)
			}
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok && strings.HasPrefix(q, "label_values(") {
			metric := strings.TrimSpace(strings.Split(strings.TrimPrefix(q, "label_values("), ",")[0])
			if _, ok := k[metric]; !ok {
				t.Errorf("variable %s reads unknown metric %s", v.Name, metric)
			}
		}
	}
	t.Logf("%d panels, %d queries checked against %d metric names", len(d.Panels), queries, len(k))
}

// TestCheckExprCatchesMistakes makes sure the checker itself fails on unknown names and labels.
func TestCheckExprCatchesMistakes(t *testing.T) {
	k := known{"messenger_queue_length": nil, "messenger_webhook_attempts_total": {"outcome"}}
	cases := []struct {
		expr string
		bad  int
	}{
		{`min_over_time(messenger_queue_length[15m]) > 0 and messenger_queue_length >= messenger_queue_length offset 15m`, 0},
		{`sum by (namespace, pod) (rate(messenger_webhook_attempts_total{outcome="failed", namespace=~"$ns"}[10m])) > 0`, 0},
		{`rate(messenger_queue_lenght[5m])`, 1},
		{`messenger_webhook_attempts_total{result="failed"}`, 1},
		{`histogram_quantile(0.99, sum by (le) (rate(nope_bucket{a="}"}[5m])))`, 1},
		{`1 + 2`, 1},
	}
	for _, tc := range cases {
		if got := checkExpr(k, tc.expr); len(got) != tc.bad {
			t.Errorf("%s: %d problems %v, want %d", tc.expr, len(got), got, tc.bad)
		}
	}
}
