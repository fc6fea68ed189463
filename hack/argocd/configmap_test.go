package argocd_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite argocd-cm-patch.yaml from the Lua files")

// patchPath is the ready-to-apply argocd-cm patch carrying the Lua scripts.
const patchPath = "argocd-cm-patch.yaml"

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// configMapPatch builds the argocd-cm patch from the Lua files in dir.
func configMapPatch(t *testing.T) []byte {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var actions strings.Builder
	actions.WriteString("discovery.lua: |\n" + indent(read("actions/discovery.lua"), "  "))
	actions.WriteString("definitions:\n")
	for _, name := range []string{"reboot", "logout"} {
		actions.WriteString("- name: " + name + "\n  action.lua: |\n" + indent(read("actions/"+name+"/action.lua"), "    "))
	}
	var b bytes.Buffer
	b.WriteString("# Generated from hack/argocd/messenger-operator.io/MessengerInstance by\n" +
		"# `go test ./hack/argocd -run TestConfigMapPatch -update`. DO NOT EDIT.\n" +
		"# Apply: kubectl -n argocd patch configmap argocd-cm --type merge --patch-file hack/argocd/argocd-cm-patch.yaml\n")
	b.WriteString("data:\n")
	b.WriteString("  resource.customizations.health.messenger-operator.io_MessengerInstance: |\n" + indent(read("health.lua"), "    "))
	b.WriteString("  resource.customizations.actions.messenger-operator.io_MessengerInstance: |\n" + indent(actions.String(), "    "))
	return b.Bytes()
}

// TestConfigMapPatch fails when argocd-cm-patch.yaml does not carry the current Lua files, and
// checks that it parses back to exactly those scripts.
func TestConfigMapPatch(t *testing.T) {
	want := configMapPatch(t)
	if *update {
		if err := os.WriteFile(patchPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(patchPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./hack/argocd -run TestConfigMapPatch -update", patchPath)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.UnmarshalStrict(got, &cm); err != nil {
		t.Fatal(err)
	}
	health, _ := os.ReadFile(filepath.Join(dir, "health.lua"))
	if cm.Data["resource.customizations.health.messenger-operator.io_MessengerInstance"] != string(health) {
		t.Fatal("health script does not round-trip through the patch")
	}
	var actions struct {
		Discovery   string `json:"discovery.lua"`
		Definitions []struct {
			Name   string `json:"name"`
			Action string `json:"action.lua"`
		} `json:"definitions"`
	}
	if err := yaml.UnmarshalStrict([]byte(cm.Data["resource.customizations.actions.messenger-operator.io_MessengerInstance"]), &actions); err != nil {
		t.Fatal(err)
	}
	for _, d := range actions.Definitions {
		src, _ := os.ReadFile(filepath.Join(dir, "actions", d.Name, "action.lua"))
		if d.Action != string(src) {
			t.Errorf("action %s does not round-trip through the patch", d.Name)
		}
	}
	if len(actions.Definitions) != 2 || actions.Discovery == "" {
		t.Fatalf("actions: %+v", actions)
	}
}
