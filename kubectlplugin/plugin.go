// Package kubectlplugin implements `messenger-operator kubectl` (installable as the kubectl plugin
// kubectl-messenger): a table of MessengerInstances, the pairing QR code drawn in the terminal,
// reboot and logout requests through the annotations, and sending a message through an instance.
package kubectlplugin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// Plugin holds what every subcommand needs.
type Plugin struct {
	// Client talks to the API server; its scheme must know MessengerInstance.
	Client client.Client
	// Namespace of the instances named on the command line (and of `status` without AllNamespaces).
	Namespace string
	// Out receives the command's output.
	Out io.Writer
	// HTTP calls instance servers (send); nil uses a client with a 30 s timeout.
	HTTP *http.Client
	// Stream follows event streams (events); nil uses a client without a timeout.
	Stream *http.Client
	// Err receives notices (reconnections); nil discards them.
	Err io.Writer
	// Now stamps annotation requests; nil uses time.Now.
	Now func() time.Time
}

// get reads one MessengerInstance of the plugin's namespace.
func (p *Plugin) get(ctx context.Context, name string) (*v1alpha1.MessengerInstance, error) {
	mi := &v1alpha1.MessengerInstance{}
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, mi); err != nil {
		return nil, fmt.Errorf("getting MessengerInstance %s/%s: %w", p.Namespace, name, err)
	}
	return mi, nil
}

func (p *Plugin) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Plugin) http() *http.Client {
	if p.HTTP != nil {
		return p.HTTP
	}
	return &http.Client{Timeout: 30 * time.Second}
}
