// Command dev is `make dev`: the end-to-end harness left running as a no-cluster quick start. It
// starts kube-apiserver and etcd, the operator, a sandbox network with two phones, and runs every
// MessengerInstance's pod as a local process; it applies config/samples/ and prints how to reach
// each piece. Ctrl-C stops everything.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/test/e2e"
)

// Phones the sandbox starts with: one to scan QR codes with, one to talk to.
const (
	yourPhone = "15550001111"
	bobPhone  = "15550002222"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "make dev:", err)
		os.Exit(1)
	}
}

func run() error {
	binary := flag.String("binary", "bin/messenger-operator", "messenger-operator binary that instance pods run")
	dir := flag.String("dir", "", "folder for pods, volumes, logs and the kubeconfig, kept at exit (default: a temporary folder, removed at exit)")
	listen := flag.String("sandbox-listen", "127.0.0.1:8900", "sandbox network address")
	samples := flag.String("samples", "config/samples", "manifests applied at start (empty: none)")
	realNetwork := flag.Bool("real-network", false, "leave samples without networkURL on the real WhatsApp service instead of the sandbox")
	verbose := flag.Bool("v", false, "log the operator, the node and the sandbox")
	flag.Parse()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	bin, err := filepath.Abs(*binary)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, err := e2e.Start(ctx, e2e.Options{Binary: bin, Dir: *dir, SandboxListen: *listen, Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("stopping…")
		if err := h.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping:", err)
		}
	}()
	sb := h.Sandbox.URL()
	for phone, name := range map[string]string{yourPhone: "You", bobPhone: "Bob"} {
		if err := post(sb+"/sandbox/phones", map[string]string{"phone": phone, "name": name}); err != nil {
			return fmt.Errorf("creating sandbox phone %s: %w", phone, err)
		}
	}
	if *samples != "" {
		url := sb
		if *realNetwork {
			url = ""
		}
		applied, err := h.ApplySamples(ctx, *samples, "default", url)
		if err != nil {
			return err
		}
		for _, a := range applied {
			fmt.Println("applied", a)
		}
	}
	printGuide(h)
	announceInstances(ctx, h)
	return nil
}

// printGuide prints how to reach each piece.
func printGuide(h *e2e.Harness) {
	sb := h.Sandbox.URL()
	fmt.Printf(`
make dev is up (Ctrl-C stops everything):
  kube-apiserver   export KUBECONFIG=%[1]s
                   kubectl get mi -A        # STATUS, PHONE, READY
  sandbox network  %[2]s   (phones %[3]s "You" and %[4]s "Bob")
  pods             %[5]s/pods/<namespace>/<pod>/<uid>/instance.log

The QR code is in each instance's status (kubectl get mi NAME -o jsonpath='{.status.qrCode}');
how to scan it with the sandbox phone %[3]s and send a message is printed below for each instance
as its pod starts. Apply more with kubectl (set spec.networkURL: %[2]s to use the sandbox).
`, h.Kubeconfig, sb, yourPhone, bobPhone, h.Dir())
}

// printInstance prints the address of an instance and the curl lines to pair and use it.
func printInstance(h *e2e.Harness, mi *v1alpha1.MessengerInstance, addr, secret string) {
	fmt.Printf(`
instance %[1]s/%[2]s serves at http://%[3]s
  TOKEN=$(kubectl -n %[1]s get secret %[4]s -o jsonpath='{.data.token}' | base64 -d)
  QR=$(curl -s "http://%[3]s/qr_code?format=raw" -H "Authorization: Bearer $TOKEN")
  curl -s -X POST %[5]s/sandbox/phones/%[6]s/scan -d "{\"qr\":\"$QR\"}"
  kubectl -n %[1]s get mi %[2]s          # STATUS authenticated, READY True
  curl -s -X POST "http://%[3]s/sendMessage" -H "Authorization: Bearer $TOKEN" -d '{"phone":"%[7]s","body":"hi"}'
  curl -s %[5]s/sandbox/phones/%[7]s/messages
`, mi.Namespace, mi.Name, addr, secret, h.Sandbox.URL(), yourPhone, bobPhone)
}

// announceInstances prints each instance's local address once its pod serves, until ctx ends.
func announceInstances(ctx context.Context, h *e2e.Harness) {
	seen := map[string]string{}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		list := &v1alpha1.MessengerInstanceList{}
		if err := h.Client.List(ctx, list); err == nil {
			for _, mi := range list.Items {
				key := mi.Namespace + "/" + mi.Name
				addr, err := h.Node.ServiceAddress(ctx, mi.Namespace, mi.Name)
				if err != nil || seen[key] == addr {
					continue
				}
				seen[key] = addr
				printInstance(h, &mi, addr, tokenSecret(ctx, h.Client, &mi))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tokenSecret names the Secret holding the instance's API token.
func tokenSecret(ctx context.Context, c client.Client, mi *v1alpha1.MessengerInstance) string {
	if mi.Status.TokenSecretName != "" {
		return mi.Status.TokenSecretName
	}
	s := &corev1.Secret{}
	if c.Get(ctx, client.ObjectKey{Namespace: mi.Namespace, Name: mi.Name + "-token"}, s) == nil {
		return s.Name
	}
	return "?"
}

// post sends a JSON body and expects a 2xx answer.
func post(url string, body any) error {
	raw, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}
