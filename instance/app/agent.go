package app

import (
	"context"
	"fmt"
	"log/slog"

	"k8s.io/klog/v2"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/agent"
	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/redact"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/instance/webhook"
)

// storeStartSettings stores the webhook URL and the ack setting given at start. A webhook URL the
// webhook guard would never deliver to is refused: the error is logged, webhooks are turned off
// (events wait in the outbox until a URL is set) and the returned reason is what GET /webhook
// reports.
func storeStartSettings(ctx context.Context, cfg Config, st *store.Store, log *slog.Logger) (*api.RefusedWebhook, error) {
	refused := &api.RefusedWebhook{}
	if cfg.AckNotifications != nil {
		if err := st.SetAckNotifications(ctx, *cfg.AckNotifications); err != nil {
			return nil, fmt.Errorf("storing --ack-notifications: %w", err)
		}
	}
	if cfg.WebhookURL == "" {
		return refused, nil
	}
	_, guard := guards(cfg)
	u := cfg.WebhookURL
	if err := api.CheckWebhookURL(ctx, guard, u); err != nil {
		log.Error("--webhook-url refused; webhooks are off until a URL is set", "webhookUrl", redact.URL(u), "error", err)
		refused.Set("--webhook-url " + redact.URL(u) + " refused: " + err.Error())
		u = ""
	} else {
		log.Info("webhook URL stored from --webhook-url", "webhookUrl", redact.URL(u))
	}
	if err := st.SetWebhookURL(ctx, u); err != nil {
		return nil, fmt.Errorf("storing --webhook-url: %w", err)
	}
	return refused, nil
}

// newAgent builds the kube agent when the instance runs for a MessengerInstance, else nil.
func newAgent(cfg Config, st *store.Store, log *slog.Logger) (*agent.Agent, error) {
	if cfg.InstanceName == "" || cfg.Namespace == "" || cfg.Kube == nil {
		return nil, nil
	}
	// client-go's own logs (leader election, watches) go to the same structured log.
	klog.SetSlogLogger(log.With("component", "client-go"))
	identity := ""
	if cfg.PodName != "" {
		identity = agent.NewIdentity(cfg.PodName)
	}
	ag, err := agent.New(agent.Options{Config: cfg.Kube, Namespace: cfg.Namespace, Name: cfg.InstanceName,
		LeaseName: cfg.LeaseName, Identity: identity, Store: st, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("kube agent on", "messengerInstance", cfg.Namespace+"/"+cfg.InstanceName, "leaseHolder", ag.Gate().Identity())
	return ag, nil
}

// runAgent starts the agent (if any) and returns the function that stops it and waits.
func runAgent(ctx context.Context, ag *agent.Agent, eng account.Engine, kick func(), log *slog.Logger) func() {
	if ag == nil {
		return func() {}
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ag.Run(actx, eng, kick); err != nil {
			log.Warn("kube agent stopped", "error", err)
		}
	}()
	return func() { cancel(); <-done }
}

// webhookSettings is the API's api.WebhookSettings: after POST /webhook the dispatcher looks at
// the new URL and the agent (if any) reports it, or re-applies spec.webhook, which then owns the
// settings.
type webhookSettings struct {
	dispatcher *webhook.Dispatcher
	agent      *agent.Agent
}

// Changed kicks the dispatcher and tells the agent.
func (w webhookSettings) Changed() {
	w.dispatcher.Kick()
	if w.agent != nil {
		w.agent.WebhookChanged()
	}
}

// ManagedBy names spec.webhook while it owns the webhook settings; empty without an agent.
func (w webhookSettings) ManagedBy() string {
	if w.agent == nil {
		return ""
	}
	return w.agent.WebhookManagedBy()
}

// specSettings is the API's api.SpecSettings: the agent's, or nil without one.
func specSettings(a *agent.Agent) api.SpecSettings {
	if a == nil {
		return nil
	}
	return a
}
