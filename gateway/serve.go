package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/redact"
)

// statusPath is the gateway's own endpoint under an instance's prefix: the limits that apply.
const statusPath = "/gatewayStatus"

// ServeHTTP routes, authenticates, limits and proxies one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w, code: http.StatusOK}
	who := g.serve(rec, r)
	g.metrics.observe(rec.code, time.Since(start))
	g.log.Info("request", "method", r.Method, "path", r.URL.Path, "query", redact.Query(r.URL.RawQuery),
		"status", rec.code, "caller", who, "duration", time.Since(start).String(), "client", r.RemoteAddr)
}

// serve does the work of ServeHTTP and returns the caller's name for the log.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) string {
	t, ok := parseTarget(r.URL.Path, r.URL.RawPath)
	if !ok {
		g.reject(w, http.StatusNotFound, "not found", "use /<namespace>/<name>/<method> or /instance<id>/<method>")
		return ""
	}
	ctx := r.Context()
	mi, err := g.lookup(ctx, t)
	var nr *errNoRoute
	switch {
	case errors.As(err, &nr):
		g.reject(w, http.StatusNotFound, "no route", nr.Error())
		return ""
	case err != nil:
		g.log.Error("route lookup", "error", err)
		g.reject(w, http.StatusInternalServerError, "lookup", "internal error")
		return ""
	}
	token, err := g.instanceToken(ctx, mi)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		g.reject(w, http.StatusServiceUnavailable, "no token", "the instance's token is not available yet")
		return ""
	}
	instPath := stripInstanceSegment(t.rest)
	given := credential(r)
	c := g.authenticate(ctx, mi, given, token)
	if c == nil && given == "" {
		c = g.consoleCaller(r, instPath, token)
	}
	if c == nil {
		w.Header().Set("Connection", "close")
		g.reject(w, http.StatusUnauthorized, "unauthenticated", "missing or wrong token: pass ?token= or Authorization: Bearer with the instance token or an API key")
		return ""
	}
	if need := RequiredScope(r.Method, instPath); c.scope < need {
		g.reject(w, http.StatusForbidden, "scope", "this key's scope ("+c.scope.String()+") does not allow "+r.Method+" "+instPath+" (needs "+need.String()+")")
		return c.name
	}
	if d := g.admit(mi, c); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(d)))
		g.reject(w, http.StatusTooManyRequests, "rate", "rate limit exceeded: retry after "+strconv.Itoa(retryAfter(d))+"s")
		return c.name
	}
	if instPath == statusPath && r.Method == http.MethodGet {
		g.serveStatus(w, mi, c)
		return c.name
	}
	base, err := g.opts.Resolve(mi)
	if err != nil {
		g.log.Warn("resolving upstream", "instance", mi.Namespace+"/"+mi.Name, "error", err)
		g.reject(w, http.StatusBadGateway, "upstream", "instance has no endpoint yet")
		return c.name
	}
	if err := g.hold(ctx, mi, base); err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(g.opts.WakeTimeout/6)))
		g.reject(w, http.StatusServiceUnavailable, "waking", "the instance is hibernated and waking up: retry shortly")
		return c.name
	}
	g.recordCall(mi, time.Now())
	up := &upstream{base: base, path: t.rest, rawPath: t.rawRest, token: token, quiet: mi.Spec.Hibernation != nil}
	if c.fromConsole() {
		up.token = "" // the console's cookie or sign-in form speaks for the caller
	}
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, upstreamKey{}, up)))
	if up.unreachable {
		g.afterUnreachable(w, r, mi, up)
	}
	return c.name
}

// afterUnreachable handles a hibernating instance that had no serving pod although the cache
// did not say it sleeps yet (it was just scaled to zero): it requests a wake; a call without a
// body is held until the instance serves and sent again, one with a body gets 503 + Retry-After.
func (g *Gateway) afterUnreachable(w http.ResponseWriter, r *http.Request, mi *v1alpha1.MessengerInstance, up *upstream) {
	retry := r.ContentLength == 0 && (r.Body == nil || r.Body == http.NoBody)
	asleep := mi.DeepCopy()
	meta.SetStatusCondition(&asleep.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionHibernated, Status: metav1.ConditionTrue, Reason: "Unreachable"})
	if !retry {
		go func() { _ = g.hold(context.WithoutCancel(r.Context()), asleep, up.base) }()
	} else if err := g.hold(r.Context(), asleep, up.base); err == nil {
		up.quiet, up.unreachable = false, false
		g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), upstreamKey{}, up)))
		return
	}
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter(g.opts.WakeTimeout/6)))
	g.reject(w, http.StatusServiceUnavailable, "waking", "the instance is hibernated and waking up: retry shortly")
}

// admit charges the caller's and the instance's buckets; it returns how long to wait when either is empty.
func (g *Gateway) admit(mi *v1alpha1.MessengerInstance, c *caller) time.Duration {
	id := mi.Namespace + "/" + mi.Name
	return admit(time.Now(), g.limits.get(id+"/"+c.name, c.limit), g.limits.get(id, g.opts.InstanceLimit))
}

// reject answers an error the gateway itself decided, counting it by reason.
func (g *Gateway) reject(w http.ResponseWriter, code int, reason, msg string) {
	g.metrics.reject(reason)
	writeError(w, code, msg)
}

// stripInstanceSegment drops an /instance<digits> prefix the instance would ignore, so scopes
// are decided on the instance's own path.
func stripInstanceSegment(p string) string {
	rest, ok := strings.CutPrefix(p, "/instance")
	if !ok {
		return p
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i < len(rest) && rest[i] != '/' {
		return p
	}
	if rest[i:] == "" {
		return "/"
	}
	return rest[i:]
}

// recorder remembers the status code; Unwrap keeps flushing and hijacking available to the proxy.
type recorder struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap returns the underlying writer (for http.ResponseController).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
