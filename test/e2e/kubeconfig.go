package e2e

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/go-logr/logr"
	"log/slog"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// tokenLifetime is what pod tokens ask for (a day; the harness issues a new one per start).
const tokenLifetime = 24 * 60 * 60

// writeAdminKubeconfig writes a kubeconfig for a system:masters user (kubectl, make dev).
func (h *Harness) writeAdminKubeconfig() (string, error) {
	path := filepath.Join(h.opts.Dir, "kubeconfig")
	if err := h.env.WriteKubeconfig("dev-admin", path); err != nil {
		return "", err
	}
	return path, nil
}

// writeServiceAccountKubeconfig writes, at path, a kubeconfig that authenticates as the
// ServiceAccount ns/sa with a token from the TokenRequest API, as a pod's projected token would.
func writeServiceAccountKubeconfig(ctx context.Context, admin client.Client, cfg *rest.Config, ns, sa, path string) error {
	expiry := int64(tokenLifetime)
	tok := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}
	account := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}
	if err := admin.SubResource("token").Create(ctx, account, tok); err != nil {
		return fmt.Errorf("TokenRequest for ServiceAccount %s/%s: %w", ns, sa, err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	kc.Contexts["pod"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: sa, Namespace: ns}
	kc.CurrentContext = "pod"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// logrOf adapts a slog logger for controller-runtime.
func logrOf(l *slog.Logger) logr.Logger { return logr.FromSlogHandler(l.Handler()) }
