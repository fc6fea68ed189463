package gateway

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/controllers"
)

// target is a parsed gateway path: which instance and the instance's own path.
type target struct {
	// byID is the instanceId of a /instance<id>/ path ("" for /<namespace>/<name>/).
	byID string
	// namespace and name of a /<namespace>/<name>/ path.
	namespace, name string
	// rest is the path after the prefix, "/" at least, as the instance serves it.
	rest, rawRest string
}

// parseTarget splits a request path. A first segment instance<digits> is always an id route.
func parseTarget(path, rawPath string) (target, bool) {
	first, after, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if id, ok := strings.CutPrefix(first, "instance"); ok && id != "" && digits(id) {
		return target{byID: id, rest: "/" + after, rawRest: cutSegments(rawPath, 1)}, true
	}
	name, rest, _ := strings.Cut(after, "/")
	if first == "" || name == "" {
		return target{}, false
	}
	return target{namespace: first, name: name, rest: "/" + rest, rawRest: cutSegments(rawPath, 2)}, true
}

// cutSegments drops n leading segments of an escaped path ("" stays "").
func cutSegments(raw string, n int) string {
	if raw == "" {
		return ""
	}
	s := strings.TrimPrefix(raw, "/")
	for range n {
		_, s, _ = strings.Cut(s, "/")
	}
	return "/" + s
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// errNoRoute is a path that names no instance.
type errNoRoute struct{ what string }

func (e *errNoRoute) Error() string { return "no instance " + e.what }

// lookup finds the MessengerInstance a target names in the cache.
func (g *Gateway) lookup(ctx context.Context, t target) (*v1alpha1.MessengerInstance, error) {
	if t.byID == "" {
		mi := &v1alpha1.MessengerInstance{}
		err := g.cache.Get(ctx, client.ObjectKey{Namespace: t.namespace, Name: t.name}, mi)
		if apierrors.IsNotFound(err) {
			return nil, &errNoRoute{t.namespace + "/" + t.name}
		}
		if err != nil {
			return nil, fmt.Errorf("reading MessengerInstance %s/%s: %w", t.namespace, t.name, err)
		}
		return mi, nil
	}
	list := &v1alpha1.MessengerInstanceList{}
	if err := g.cache.List(ctx, list, client.MatchingFields{controllers.InstanceIDIndex: t.byID}); err != nil {
		return nil, fmt.Errorf("listing MessengerInstances with instanceId %s: %w", t.byID, err)
	}
	// The earliest claimant owns the id; the operator marks the others Stalled.
	owner := controllers.InstanceIDOwner(list.Items)
	if owner == nil {
		return nil, &errNoRoute{"with instanceId " + t.byID}
	}
	return owner.DeepCopy(), nil
}

// routeCount returns the number of instances the gateway can route (for metrics and status).
func (g *Gateway) routeCount(ctx context.Context) int {
	list := &v1alpha1.MessengerInstanceList{}
	if err := g.cache.List(ctx, list); err != nil {
		return 0
	}
	return len(list.Items)
}
