// Command apidocs writes docs/reference.md, the API reference, from the instance server's OpenAPI
// document (instance/api/openapi.json, served verbatim at GET /openapi.json) and the
// MessengerInstance CRD (config/crd/bases). `make api-docs` runs it; its test fails when the
// reference is stale.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "repository root")
	flag.Parse()
	out, err := Generate(*root)
	if err == nil {
		err = os.WriteFile(filepath.Join(*root, OutputPath), out, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
}
