package cmd

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/messenger-operator/messenger-operator/sandbox"
)

func sandboxCommand() *cobra.Command {
	var opts sandbox.Options
	c := &cobra.Command{
		Use:   "sandbox",
		Short: "Run the hermetic WhatsApp-compatible network for tests, demos and CI",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := bindEnv(c.Flags()); err != nil {
				return err
			}
			opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := sandbox.Start(ctx, opts)
			if err != nil {
				return fmt.Errorf("starting sandbox: %w", err)
			}
			fmt.Fprintf(c.OutOrStdout(), "sandbox listening on %s\n", srv.URL())
			<-ctx.Done()
			return srv.Close()
		},
	}
	c.Flags().StringVar(&opts.Listen, "listen", "127.0.0.1:8900", "address to listen on")
	c.Flags().StringVar(&opts.DataDir, "data-dir", "", "directory to persist the network in (empty = in memory)")
	c.Flags().IntVar(&opts.PhoneMessages, "phone-messages", 10000, "messages each simulated phone remembers (the oldest are forgotten first)")
	c.Flags().IntVar(&opts.QRCodes, "qr-codes", 6, "QR codes per pairing attempt (1-6; fewer make QR expiry quick to test)")
	return c
}
