package gateway

import (
	"encoding/json"
	"net/http"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// LimitStatus is one bucket as GET …/gatewayStatus reports it.
type LimitStatus struct {
	Limit
	// Tokens left now (requests that may go at once); -1 before the first request.
	Tokens float64 `json:"tokens"`
}

// Status is the answer of GET /<namespace>/<name>/gatewayStatus (or /instance<id>/gatewayStatus):
// which instance the path reaches and the limits that apply to the caller.
type Status struct {
	Namespace  string      `json:"namespace"`
	Name       string      `json:"name"`
	InstanceID string      `json:"instanceId,omitempty"`
	Caller     string      `json:"caller"`
	Scope      string      `json:"scope"`
	Key        LimitStatus `json:"keyLimit"`
	Instance   LimitStatus `json:"instanceLimit"`
}

// serveStatus answers gatewayStatus (the call itself has been counted).
func (g *Gateway) serveStatus(w http.ResponseWriter, mi *v1alpha1.MessengerInstance, c *caller) {
	id := mi.Namespace + "/" + mi.Name
	st := Status{
		Namespace: mi.Namespace, Name: mi.Name, InstanceID: mi.Spec.InstanceID, Caller: c.name, Scope: c.scope.String(),
		Key:      LimitStatus{Limit: c.limit, Tokens: g.limits.tokens(id + "/" + c.name)},
		Instance: LimitStatus{Limit: g.opts.InstanceLimit, Tokens: g.limits.tokens(id)},
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(st)
}
