package kubectlplugin

import (
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

// SendResult is the instance's answer to a send (POST /sendMessage, /sendLocation, /sendFile,
// /sendPTT).
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

// SendOptions is what `kubectl messenger send` sends. Exactly one of Text (alone), Location or
// File is the message; Text is a file's caption.
type SendOptions struct {
	// To is a chat id (…@c.us, …@g.us, …@lid) or a phone number.
	To string
	// Text is the message text, or the caption of File.
	Text string
	// Location is "LAT,LNG" in degrees; Address optionally names the place.
	Location, Address string
	// File is the path of a file to upload: an Ogg/Opus file goes as a voice note (/sendPTT),
	// anything else through /sendFile (image, sticker, video, audio or document by content).
	File string
	// ReplyTo is the id of a message of the chat to reply to (quotedMsgId).
	ReplyTo string
	// Endpoint is the instance URL; empty uses status.endpoint.
	Endpoint string
}

// Send queues a message through instance name: the request o describes goes to endpoint
// (status.endpoint when empty; from outside the cluster use `kubectl port-forward svc/NAME 8080`
// and http://127.0.0.1:8080) with the token of the instance's token Secret. Options are checked
// before anything is read or sent.
func (p *Plugin) Send(ctx context.Context, name string, o SendOptions) (SendResult, error) {
	var res SendResult
	req, err := o.build()
	if err != nil {
		return res, err
	}
	defer req.close()
	mi, err := p.get(ctx, name)
	if err != nil {
		return res, err
	}
	endpoint := o.Endpoint
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
	url := strings.TrimRight(endpoint, "/") + req.path
	if res, err = p.post(ctx, url, token, req); err != nil {
		return res, err
	}
	fmt.Fprintf(p.Out, "queued %s (queue number %d): %s\n", res.ID, res.QueueNumber, res.Message)
	return res, nil
}

// post sends one request to an instance and decodes its answer.
func (p *Plugin) post(ctx context.Context, url, token string, r *sendRequest) (SendResult, error) {
	var res SendResult
	body, contentType, err := r.body()
	if err != nil {
		return res, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return res, fmt.Errorf("building request to %s: %w", url, err)
	}
	req.Header.Set("Content-Type", contentType)
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
