package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ApplySamples applies every YAML manifest in dir (kustomization.yaml aside) into namespace ns
// (for objects without one) with server-side apply. When sandboxURL is set, MessengerInstances
// without spec.networkURL are pointed at that sandbox.
func (h *Harness) ApplySamples(ctx context.Context, dir, ns, sandboxURL string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		objs, err := readManifests(f)
		if err != nil {
			return applied, err
		}
		for _, u := range objs {
			if u.GetNamespace() == "" {
				u.SetNamespace(ns)
			}
			if u.GetKind() == "MessengerInstance" && sandboxURL != "" {
				if url, _, _ := unstructured.NestedString(u.Object, "spec", "networkURL"); url == "" {
					if err := unstructured.SetNestedField(u.Object, sandboxURL, "spec", "networkURL"); err != nil {
						return applied, err
					}
				}
			}
			if err := h.Client.Patch(ctx, u, client.Apply, client.FieldOwner("make-dev"), client.ForceOwnership); err != nil {
				return applied, fmt.Errorf("applying %s %s from %s: %w", u.GetKind(), u.GetName(), f, err)
			}
			applied = append(applied, fmt.Sprintf("%s %s/%s", strings.ToLower(u.GetKind()), u.GetNamespace(), u.GetName()))
		}
	}
	return applied, nil
}

// readManifests decodes the YAML documents of a file.
func readManifests(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}
