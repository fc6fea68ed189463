package cmd

import (
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeConfig loads the client configuration: the --kubeconfig file when given, else in-cluster
// when in a pod (and $KUBECONFIG is unset), else $KUBECONFIG or ~/.kube/config — what
// controller-runtime's ctrl.GetConfig does, with client-go alone, so that a binary built with
// -tags instanceonly links no controller-runtime. No client-side rate limit (QPS -1, as
// ctrl.GetConfig sets): the API server's priority and fairness protects it (client-go's default
// of 5 QPS would throttle 1,000 instances).
func kubeConfig(path string) (*rest.Config, error) {
	cfg, err := loadKubeConfig(path)
	if err != nil {
		return nil, err
	}
	if cfg.QPS == 0 {
		cfg.QPS = -1
	}
	return cfg, nil
}

func loadKubeConfig(path string) (*rest.Config, error) {
	if path != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
		}
		return cfg, nil
	}
	if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "" {
		if cfg, err := rest.InClusterConfig(); err == nil {
			return cfg, nil
		}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(),
		&clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading Kubernetes client configuration: %w", err)
	}
	return cfg, nil
}
