// Package cmd wires the subcommands of the messenger-operator binary: it turns flags (and
// their MESSENGER_* environment twins) into the options of the packages that do the work.
package cmd

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Root returns the root command with every subcommand attached.
func Root() *cobra.Command {
	root := &cobra.Command{
		Use:           "messenger-operator",
		Short:         "Run WhatsApp accounts on Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(versionCommand(), sandboxCommand())
	for _, extra := range extraCommands {
		root.AddCommand(extra())
	}
	return root
}

// extraCommands lets subcommand files register themselves without editing Root.
var extraCommands []func() *cobra.Command

// bindEnv gives every flag of fs an environment twin: MESSENGER_ + upper snake case of the flag
// name. A flag set on the command line wins over its environment variable.
func bindEnv(fs *pflag.FlagSet) error {
	var firstErr error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil {
			return
		}
		name := "MESSENGER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				firstErr = fmt.Errorf("environment variable %s: %w", name, err)
			}
		}
	})
	return firstErr
}
