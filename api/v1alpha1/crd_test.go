package v1alpha1_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// TestCRDShape checks the names users type and the columns `kubectl get mi` shows.
func TestCRDShape(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "messenger-operator.io_messengerinstances.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(raw, crd); err != nil {
		t.Fatalf("decoding CRD: %v", err)
	}
	n := crd.Spec.Names
	if crd.Spec.Group != "messenger-operator.io" || n.Kind != "MessengerInstance" || n.Plural != "messengerinstances" ||
		!slices.Equal(n.ShortNames, []string{"mi"}) || !slices.Equal(n.Categories, []string{"messenger"}) {
		t.Errorf("names = %s %+v", crd.Spec.Group, n)
	}
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != "v1alpha1" || crd.Spec.Versions[0].Subresources.Status == nil {
		t.Fatalf("versions = %+v", crd.Spec.Versions)
	}
	want := map[string]string{
		"Status":     ".status.accountStatus",
		"Phone":      ".status.phone",
		"Ready":      `.status.conditions[?(@.type=="Ready")].status`,
		"Hibernated": `.status.conditions[?(@.type=="Hibernated")].status`,
		"Age":        ".metadata.creationTimestamp",
	}
	var names []string
	for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
		names = append(names, c.Name)
		if want[c.Name] != c.JSONPath {
			t.Errorf("column %s JSONPath = %s, want %s", c.Name, c.JSONPath, want[c.Name])
		}
	}
	if !slices.Equal(names, []string{"Status", "Phone", "Ready", "Hibernated", "Age"}) {
		t.Errorf("columns = %v, want Status, Phone, Ready, Hibernated, Age", names)
	}
}
