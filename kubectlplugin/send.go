package kubectlplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// maxResponse caps what is read of an instance's answer.
const maxResponse = 1 << 20

// SendResult is the instance's answer to POST /sendMessage.
type SendResult struct {
	// Sent is true when the message was queued.
	Sent bool `json:"sent"`
	// Message describes the result.
	Message string `json:"message"`
	// ID is the Chat API message id.
	ID string `json:"id"`
	// QueueNumber is the message's place in the outgoing queue.
	QueueNumber int64 `json:"queueNumber"`
}

// Send queues a text message through instance name: POST /sendMessage on endpoint (status.endpoint
// when empty; from outside the cluster use `kubectl port-forward svc/NAME 8080` and
// http://127.0.0.1:8080) with the token of the instance's token Secret. to is a chat id
// (…@c.us, …@g.us, …@lid) or a phone number.
func (p *Plugin) Send(ctx context.Context, name, to, text, endpoint string) (SendResult, error) {
	var res SendResult
	if strings.TrimSpace(to) == "" || text == "" {
		return res, fmt.Errorf("--to and --text are required")
	}
	mi, err := p.get(ctx, name)
	if err != nil {
		return res, err
	}
	if endpoint == "" {
		endpoint = mi.Status.Endpoint
	}
	if endpoint == "" {
		return res, fmt.Errorf("%s/%s has no status.endpoint yet: give --endpoint", p.Namespace, name)
	}
	token, err := p.token(ctx, mi)
	if err != nil {
		return res, err
	}
	body := map[string]string{"body": text}
	if strings.Contains(to, "@") {
		body["chatId"] = to
	} else {
		body["phone"] = strings.TrimPrefix(to, "+")
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return res, fmt.Errorf("encoding message: %w", err)
	}
	url := strings.TrimRight(endpoint, "/") + "/sendMessage"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return res, fmt.Errorf("building request to %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := p.http().Do(req)
	if err != nil {
		return res, fmt.Errorf("sending through %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return res, fmt.Errorf("reading answer of %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return res, fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, e.Error)
		}
		return res, fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return res, fmt.Errorf("decoding answer of %s: %w", url, err)
	}
	fmt.Fprintf(p.Out, "queued %s (queue number %d): %s\n", res.ID, res.QueueNumber, res.Message)
	return res, nil
}

// token reads the instance's API token from its Secret (status.tokenSecretName, or the spec's
// tokenSecretRef, or the generated <name>-token), key "token" unless the spec names another.
func (p *Plugin) token(ctx context.Context, mi *v1alpha1.MessengerInstance) (string, error) {
	name, key := mi.Status.TokenSecretName, "token"
	if ref := mi.Spec.TokenSecretRef; ref != nil {
		if name == "" {
			name = ref.Name
		}
		if ref.Key != "" {
			key = ref.Key
		}
	}
	if name == "" {
		name = mi.Name + "-token"
	}
	s := &corev1.Secret{}
	if err := p.Client.Get(ctx, client.ObjectKey{Namespace: mi.Namespace, Name: name}, s); err != nil {
		return "", fmt.Errorf("reading token Secret %s/%s: %w", mi.Namespace, name, err)
	}
	tok := strings.TrimSpace(string(s.Data[key]))
	if tok == "" {
		return "", fmt.Errorf("token Secret %s/%s has no key %q", mi.Namespace, name, key)
	}
	return tok, nil
}
