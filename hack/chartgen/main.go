// Command chartgen copies the generated manifests into the Helm chart so that config/ stays the
// one source of truth: the CRDs of config/crd/bases (gated by crds.enabled, kept on uninstall when
// crds.keep), the operator's ClusterRole of config/rbac/role.yaml and the alerts of
// config/prometheus/alerts.yaml. `make chart-crds` runs it; its test fails when the chart is stale.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	if err := Write(*root); err != nil {
		fmt.Fprintln(os.Stderr, "chartgen:", err)
		os.Exit(1)
	}
}
