package cmd

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/agent"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/instance/webhook"
)

// kubeOptions are the instance flags of the kube agent (on when --instance-name and --namespace
// are both set, as in a pod).
type kubeOptions struct {
	kubeconfig, podName, leaseName string
	ackNotifications, ackSet       bool
}

func addKubeFlags(f *pflag.FlagSet, o *kubeOptions) {
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the kube agent (default: in-cluster, else $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.podName, "pod-name", "", "pod name, the start of the Lease holder identity (default: the host name)")
	f.StringVar(&o.leaseName, "lease-name", "", "Lease that gates the WhatsApp connection (default <instance-name>-lease)")
	f.BoolVar(&o.ackNotifications, "ack-notifications", false, "ack notifications setting, stored at start when given")
}

// newKubeAgent builds the kube agent when the instance runs for a MessengerInstance, else nil.
func newKubeAgent(o instanceOptions, st *store.Store, log *slog.Logger) (*agent.Agent, error) {
	if o.instanceName == "" || o.namespace == "" {
		return nil, nil
	}
	// client-go's own logs (leader election, watches) go to the same structured log.
	klog.SetSlogLogger(log.With("component", "client-go"))
	cfg, err := kubeConfig(o.kube.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kube agent of %s/%s: %w", o.namespace, o.instanceName, err)
	}
	identity := ""
	if o.kube.podName != "" {
		identity = agent.NewIdentity(o.kube.podName)
	}
	ag, err := agent.New(agent.Options{Config: cfg, Namespace: o.namespace, Name: o.instanceName,
		LeaseName: o.kube.leaseName, Identity: identity, Store: st, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("kube agent on", "messengerInstance", o.namespace+"/"+o.instanceName, "leaseHolder", ag.Gate().Identity())
	return ag, nil
}

// runKubeAgent starts the agent (if any) and returns the function that stops it and waits.
func runKubeAgent(ctx context.Context, ag *agent.Agent, eng account.Engine, kick func(), log *slog.Logger) func() {
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

// webhookChanged is called after POST /webhook: the dispatcher looks at the new URL, and the
// agent reports it (or re-applies spec.webhook, which wins).
// webhookManagedBy tells the API when spec.webhook owns the webhook settings.
func webhookManagedBy(ag *agent.Agent) func() string {
	if ag == nil {
		return nil
	}
	return ag.WebhookManagedBy
}

func webhookChanged(d *webhook.Dispatcher, ag *agent.Agent) func() {
	if ag == nil {
		return d.Kick
	}
	return func() { d.Kick(); ag.WebhookChanged() }
}
