package kubectlplugin_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/chat"
	"github.com/messenger-operator/messenger-operator/instance/events"
	"github.com/messenger-operator/messenger-operator/instance/fetch"
	"github.com/messenger-operator/messenger-operator/instance/media"
	"github.com/messenger-operator/messenger-operator/instance/store"
	"github.com/messenger-operator/messenger-operator/kubectlplugin"
)

// lineWriter collects output lines and signals each one.
type lineWriter struct {
	mu    sync.Mutex
	lines []string
	part  string
	added chan struct{}
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part += string(b)
	for {
		i := strings.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, w.part[:i])
		w.part = w.part[i+1:]
		w.added <- struct{}{}
	}
	return len(b), nil
}

func (w *lineWriter) waitLines(n int) []string {
	for {
		w.mu.Lock()
		if len(w.lines) >= n {
			out := append([]string(nil), w.lines...)
			w.mu.Unlock()
			return out
		}
		w.mu.Unlock()
		<-w.added
	}
}

func TestEventsFollowsAndReconnects(t *testing.T) {
	requireEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := newNamespace(t)
	const token = "s3cret-token"
	st, hs := startEventsInstance(t, token)
	if err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sales-token"},
		Data: map[string][]byte{"token": []byte(token)}}); err != nil {
		t.Fatal(err)
	}
	createInstance(t, ns, "sales", nil, v1alpha1.MessengerInstanceStatus{Endpoint: hs.URL, TokenSecretName: "sales-token"})
	appendN := func(from, n int) {
		for i := from; i < from+n; i++ {
			id := fmt.Sprintf("false_15550001111@c.us_3EB0%06d", i)
			if _, _, err := st.AppendMessage(ctx, chat.Message{ID: id, Body: fmt.Sprint("hello ", i), Type: "chat",
				ChatID: "15550001111@c.us", Time: 1700000000}); err != nil {
				t.Error(err)
			}
		}
	}
	appendN(1, 3)
	out := &lineWriter{added: make(chan struct{}, 100)}
	p, _ := newPlugin(ns)
	p.Out = out
	done := make(chan error, 1)
	go func() {
		err := p.Events(ctx, "sales", kubectlplugin.EventsOptions{After: 0})
		fmt.Fprintf(out, "Events returned: %v\n", err) // never before cancel: fails the checks below
		done <- err
	}()
	out.waitLines(3)
	hs.CloseClientConnections() // the connection breaks; the plugin resumes after event 3
	appendN(4, 2)
	lines := out.waitLines(5)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lines = out.waitLines(6)
	if last := lines[len(lines)-1]; last != "Events returned: <nil>" {
		t.Fatalf("last line %q, want Events returning after cancel", last)
	}
	lines = lines[:len(lines)-1]
	for i, l := range lines[:5] {
		want := fmt.Sprintf("%d\tmessage 2023-11-14T22:13:20Z <- 15550001111@c.us chat: hello %d", i+1, i+1)
		if l != want {
			t.Fatalf("line %d: %q, want %q (all: %q)", i, l, want, lines)
		}
	}
	if len(lines) != 5 {
		t.Fatalf("printed %q, want 5 lines (no event twice)", lines)
	}
}

// startEventsInstance runs a real instance server with its event stream (SQLite store, no engine).
func startEventsInstance(t *testing.T, token string) (*store.Store, *httptest.Server) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	md, err := media.Open(t.TempDir(), "media-secret")
	if err != nil {
		t.Fatal(err)
	}
	stream, err := events.New(events.Options{Store: st, Encoder: events.Encoder{InstanceID: "sales"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Options{Store: st, Engine: account.NoEngine{}, Media: md,
		Fetcher: fetch.NewFetcher(fetch.Guard{}, 1<<20), Token: token, Events: stream})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	t.Cleanup(stream.Close)
	return st, hs
}

func TestEventsWrongToken(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	_, hs := startEventsInstance(t, "right")
	url := hs.URL
	if err := k8s.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sales-token"},
		Data: map[string][]byte{"token": []byte("wrong")}}); err != nil {
		t.Fatal(err)
	}
	createInstance(t, ns, "sales", nil, v1alpha1.MessengerInstanceStatus{Endpoint: url, TokenSecretName: "sales-token"})
	p, _ := newPlugin(ns)
	err := p.Events(context.Background(), "sales", kubectlplugin.EventsOptions{After: -1, GiveUpAfter: 1})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: %v, want the instance's 401", err)
	}
}
