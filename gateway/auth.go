package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
)

// caller is who a request authenticated as.
type caller struct {
	// name identifies the caller in logs and limits: "token" or "key/<secret name>".
	name  string
	scope Scope
	// limit is the caller's own limit (a key's rate/burst override, else the default).
	limit Limit
}

// credential returns what the client presented: ?token= or Authorization: Bearer.
func credential(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// instanceToken reads the instance's API token from its token Secret (through the informer).
func (g *Gateway) instanceToken(ctx context.Context, mi *v1alpha1.MessengerInstance) (string, error) {
	name, key := controllers.TokenSecret(mi)
	s := &corev1.Secret{}
	if err := g.cache.Get(ctx, client.ObjectKey{Namespace: mi.Namespace, Name: name}, s); err != nil {
		return "", fmt.Errorf("token Secret %s/%s: %w", mi.Namespace, name, err)
	}
	tok := string(s.Data[key])
	if tok == "" {
		return "", fmt.Errorf("token Secret %s/%s has no key %q", mi.Namespace, name, key)
	}
	return tok, nil
}

// authenticate matches the presented credential against the instance token and then the
// instance's API keys; nil means unknown (401).
func (g *Gateway) authenticate(ctx context.Context, mi *v1alpha1.MessengerInstance, given, token string) *caller {
	if given == "" {
		return nil
	}
	if equalSecret(given, token) {
		return &caller{name: "token", scope: ScopeAdmin, limit: g.opts.KeyLimit}
	}
	list := &corev1.SecretList{}
	if err := g.cache.List(ctx, list, client.InNamespace(mi.Namespace), client.MatchingFields{apiKeyIndex: keyHash(given)}); err != nil {
		g.log.Error("listing API keys", "instance", mi.Namespace+"/"+mi.Name, "error", err)
		return nil
	}
	for i := range list.Items {
		s := &list.Items[i]
		if s.Labels[LabelAPIKeyFor] == mi.Name && equalSecret(given, string(s.Data[KeyData])) {
			return &caller{name: "key/" + s.Name, scope: ParseScopes(string(s.Data[ScopesData])), limit: keyLimit(s, g.opts.KeyLimit)}
		}
	}
	return nil
}

// keyLimit applies a key Secret's rate and burst over the default; unparsable values are ignored.
func keyLimit(s *corev1.Secret, def Limit) Limit {
	l := def
	if v, err := strconv.ParseFloat(strings.TrimSpace(string(s.Data[RateData])), 64); err == nil && v >= 0 {
		l.Rate = v
	}
	if v, err := strconv.Atoi(strings.TrimSpace(string(s.Data[BurstData]))); err == nil && v > 0 {
		l.Burst = v
	}
	return l
}

// equalSecret compares in constant time (in the length too: both are hashed first).
func equalSecret(a, b string) bool {
	x, y := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(x[:], y[:]) == 1
}
