package cmd

import (
	"github.com/spf13/pflag"
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
