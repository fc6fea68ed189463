// Command messenger-operator is the single binary of Messenger Operator. Its subcommands are
// the Kubernetes operator, the per-account instance server, the hermetic sandbox network and
// version; see docs/ and ../shared/design.md for what each one does.
package main

import (
	"os"

	"github.com/messenger-operator/messenger-operator/cmd"
)

func main() {
	if err := cmd.Root().Execute(); err != nil {
		os.Exit(1)
	}
}
