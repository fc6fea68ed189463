package kubectlplugin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/kubectlplugin"
)

// startInstance runs a real instance server (SQLite store, no WhatsApp engine: sends stay queued).
func startInstance(t *testing.T, token string) string {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	md, err := media.Open(t.TempDir(), "media-secret")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Options{Store: st, Engine: account.NoEngine{}, Media: md,
		Fetcher: fetch.NewFetcher(fetch.Guard{}, 1<<20), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

type queued struct {
	TotalMessages int `json:"totalMessages"`
	First100      []struct {
		Body   string `json:"body"`
		Type   string `json:"type"`
		ChatID string `json:"chatId"`
	} `json:"first100"`
}

func showQueue(t *testing.T, url, token string) queued {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/showMessagesQueue", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var q queued
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil {
		t.Fatal(err)
	}
	return q
}

func TestSendThroughInstance(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	ns := newNamespace(t)
	p, out := newPlugin(ns)
	const token = "s3cret-token"
	url := startInstance(t, token)
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sales-token"},
		Data: map[string][]byte{"token": []byte(token + "\n")}}); err != nil {
		t.Fatal(err)
	}
	createInstance(t, ns, "sales", nil, v1alpha1.MessengerInstanceStatus{Endpoint: url, TokenSecretName: "sales-token"})

	res, err := p.Send(ctx, "sales", kubectlplugin.SendOptions{To: "+15550002222", Text: "hello from kubectl"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Sent || res.QueueNumber < 1 || !strings.Contains(out.String(), "queued") {
		t.Fatalf("result %+v, output %q", res, out.String())
	}
	if _, err := p.Send(ctx, "sales", kubectlplugin.SendOptions{To: "120363025246125486@g.us", Text: "to the group"}); err != nil {
		t.Fatal(err)
	}
	// A file goes up as multipart to /sendFile, which stores and queues it.
	photo := writeFile(t, "photo.png", pngBytes(t))
	if _, err := p.Send(ctx, "sales", kubectlplugin.SendOptions{To: "15550002222", File: photo, Text: "the caption"}); err != nil {
		t.Fatal(err)
	}
	q := showQueue(t, url, token)
	if q.TotalMessages != 3 || q.First100[0].Body != "hello from kubectl" || q.First100[0].ChatID != "15550002222@c.us" ||
		q.First100[1].ChatID != "120363025246125486@g.us" || q.First100[2].Type != "file" || q.First100[2].ChatID != "15550002222@c.us" {
		t.Fatalf("queue %+v", q)
	}

	// The spec's tokenSecretRef key is honoured; a wrong token gets the instance's 401 error.
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "custom"},
		Data: map[string][]byte{"api": []byte("wrong")}}); err != nil {
		t.Fatal(err)
	}
	mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "support"},
		Spec: v1alpha1.MessengerInstanceSpec{TokenSecretRef: &v1alpha1.SecretKeyReference{Name: "custom", Key: "api"}}}
	if err := k8s.Create(ctx, mi); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Send(ctx, "support", kubectlplugin.SendOptions{To: "15550002222", Text: "x", Endpoint: url}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v", err)
	}
	// Bad input never reaches the instance.
	if _, err := p.Send(ctx, "sales", kubectlplugin.SendOptions{Text: "x"}); err == nil {
		t.Fatal("empty --to accepted")
	}
	createInstance(t, ns, "new", nil, v1alpha1.MessengerInstanceStatus{})
	if _, err := p.Send(ctx, "new", kubectlplugin.SendOptions{To: "15550002222", Text: "x"}); err == nil || !strings.Contains(err.Error(), "no status.endpoint") {
		t.Fatalf("instance without endpoint: %v", err)
	}
	if _, err := p.Send(ctx, "new", kubectlplugin.SendOptions{To: "15550002222", Text: "x", Endpoint: url}); err == nil || !strings.Contains(err.Error(), "new-token") {
		t.Fatalf("missing token Secret: %v", err)
	}
	if got := showQueue(t, url, token).TotalMessages; got != 3 {
		t.Fatalf("failed sends changed the queue: %d messages", got)
	}
}
