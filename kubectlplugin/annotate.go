package kubectlplugin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// Action is a request made through an annotation.
type Action string

const (
	// Reboot restarts the instance pod once (messenger-operator.io/reboot).
	Reboot Action = "reboot"
	// Logout logs the WhatsApp account out once (messenger-operator.io/logout).
	Logout Action = "logout"
)

// annotation returns the annotation key of an action.
func (a Action) annotation() (string, error) {
	switch a {
	case Reboot:
		return v1alpha1.RebootAnnotation, nil
	case Logout:
		return v1alpha1.LogoutAnnotation, nil
	}
	return "", fmt.Errorf("unknown action %q (want reboot or logout)", string(a))
}

// handled returns the status field that acknowledges an action.
func (a Action) handled(mi *v1alpha1.MessengerInstance) string {
	if a == Reboot {
		return mi.Status.LastHandledReboot
	}
	return mi.Status.LastHandledLogout
}

// Request sets the action's annotation of instance name to a new value (the current time,
// RFC 3339 with nanoseconds, so that two requests never share a value) with a merge patch that
// touches no other field, and returns the value. With wait > 0 it then waits until status
// acknowledges that value.
func (p *Plugin) Request(ctx context.Context, name string, a Action, wait time.Duration) (string, error) {
	key, err := a.annotation()
	if err != nil {
		return "", err
	}
	if _, err := p.get(ctx, name); err != nil {
		return "", err
	}
	value := p.now().UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{key: value}}})
	if err != nil {
		return "", fmt.Errorf("encoding patch: %w", err)
	}
	mi := &v1alpha1.MessengerInstance{}
	mi.Namespace, mi.Name = p.Namespace, name
	if err := p.Client.Patch(ctx, mi, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return "", fmt.Errorf("requesting %s of %s/%s: %w", a, p.Namespace, name, err)
	}
	fmt.Fprintf(p.Out, "messengerinstance/%s %s requested (%s=%s)\n", name, a, key, value)
	if wait <= 0 {
		return value, nil
	}
	if err := p.waitHandled(ctx, name, a, value, wait); err != nil {
		return value, err
	}
	fmt.Fprintf(p.Out, "messengerinstance/%s %s done\n", name, a)
	return value, nil
}

// waitHandled polls until status acknowledges value or timeout passes.
func (p *Plugin) waitHandled(ctx context.Context, name string, a Action, value string, timeout time.Duration) error {
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		mi, err := p.get(ctx, name)
		if err != nil {
			return false, err
		}
		return a.handled(mi) == value, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for %s/%s to acknowledge %s %s: %w", p.Namespace, name, a, value, err)
	}
	return nil
}
