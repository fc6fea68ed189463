//go:build !instanceonly

package cmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/messenger-operator/messenger-operator/controllers"
	"github.com/messenger-operator/messenger-operator/kubectlplugin"
)

func init() { extraCommands = append(extraCommands, kubectlCommand) }

// kubectlFlags are the connection flags shared by the plugin's subcommands.
type kubectlFlags struct {
	kubeconfig, context, namespace string
}

// plugin builds the plugin from the kubeconfig (--kubeconfig, else $KUBECONFIG or ~/.kube/config)
// and the namespace (-n, else the context's, else "default").
func (f *kubectlFlags) plugin(c *cobra.Command) (*kubectlplugin.Plugin, error) {
	if err := bindEnv(c.Flags()); err != nil {
		return nil, err
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	ns := f.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return nil, fmt.Errorf("reading the context's namespace: %w", err)
		}
	}
	scheme, err := controllers.NewScheme()
	if err != nil {
		return nil, err
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	return &kubectlplugin.Plugin{Client: cl, Namespace: ns, Out: c.OutOrStdout(), Err: c.ErrOrStderr()}, nil
}

func kubectlCommand() *cobra.Command {
	f := &kubectlFlags{}
	c := &cobra.Command{
		Use:   "kubectl",
		Short: "Manage MessengerInstances from the command line (the kubectl-messenger plugin)",
		Long: "Manage MessengerInstances from the command line. Install as a kubectl plugin with a script\n" +
			"kubectl-messenger on the PATH that runs `messenger-operator kubectl \"$@\"` (hack/kubectl-messenger).",
	}
	pf := c.PersistentFlags()
	pf.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
	pf.StringVar(&f.context, "context", "", "kubeconfig context (default the current one)")
	pf.StringVarP(&f.namespace, "namespace", "n", "", "namespace (default the context's)")
	c.AddCommand(kubectlStatusCommand(f), kubectlQRCommand(f), kubectlRequestCommand(f, kubectlplugin.Reboot),
		kubectlRequestCommand(f, kubectlplugin.Logout), kubectlSendCommand(f), kubectlEventsCommand(f))
	return c
}

func kubectlStatusCommand(f *kubectlFlags) *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "status",
		Short: "List MessengerInstances with their account status, phone and readiness",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			p, err := f.plugin(c)
			if err != nil {
				return err
			}
			return p.Status(c.Context(), all)
		},
	}
	c.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list instances of every namespace")
	return c
}

func kubectlQRCommand(f *kubectlFlags) *cobra.Command {
	var invert bool
	c := &cobra.Command{
		Use:   "qr NAME",
		Short: "Draw the pairing QR code of an instance in the terminal",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := f.plugin(c)
			if err != nil {
				return err
			}
			return p.QR(c.Context(), args[0], invert)
		},
	}
	c.Flags().BoolVar(&invert, "invert", false, "draw dark modules as blocks (terminals with a light background)")
	return c
}

func kubectlRequestCommand(f *kubectlFlags, a kubectlplugin.Action) *cobra.Command {
	var wait time.Duration
	short := map[kubectlplugin.Action]string{
		kubectlplugin.Reboot: "Restart the instance pod once (sets messenger-operator.io/reboot)",
		kubectlplugin.Logout: "Log the WhatsApp account out once; a fresh QR code follows (sets messenger-operator.io/logout)",
	}[a]
	c := &cobra.Command{
		Use:   string(a) + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := f.plugin(c)
			if err != nil {
				return err
			}
			_, err = p.Request(c.Context(), args[0], a, wait)
			return err
		},
	}
	c.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the request to be acknowledged in status (0 = do not wait)")
	return c
}

func kubectlSendCommand(f *kubectlFlags) *cobra.Command {
	var o kubectlplugin.SendOptions
	c := &cobra.Command{
		Use:   "send NAME --to CHAT (--text TEXT | --location LAT,LNG [--address ADDR] | --file PATH [--text CAPTION]) [--reply-to MESSAGE_ID]",
		Short: "Queue a text, a location or a file through an instance (with the instance's token)",
		Long: "Queue a message through an instance: a text (POST /sendMessage), a location (POST /sendLocation),\n" +
			"or a file uploaded as multipart (POST /sendFile: image, WebP sticker, video, audio or document by\n" +
			"content; an Ogg/Opus file goes to POST /sendPTT as a voice note). --reply-to quotes a message.",
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := f.plugin(c)
			if err != nil {
				return err
			}
			_, err = p.Send(c.Context(), args[0], o)
			return err
		},
	}
	fl := c.Flags()
	fl.StringVar(&o.To, "to", "", "recipient: a phone number or a chat id (…@c.us, …@g.us)")
	fl.StringVar(&o.Text, "text", "", "message text, or the caption of --file")
	fl.StringVar(&o.Location, "location", "", "send a location: LAT,LNG in decimal degrees (e.g. 52.5163,13.3777)")
	fl.StringVar(&o.Address, "address", "", "name or address of the --location")
	fl.StringVar(&o.File, "file", "", "send this file (an .ogg/Opus file as a voice note)")
	fl.StringVar(&o.ReplyTo, "reply-to", "", "id of a message of the chat to reply to (true_…/false_…, as /messages shows it)")
	fl.StringVar(&o.Endpoint, "endpoint", "", "instance URL (default status.endpoint; after `kubectl port-forward svc/NAME 8080` use http://127.0.0.1:8080)")
	c.MarkFlagsMutuallyExclusive("location", "file")
	return c
}

func kubectlEventsCommand(f *kubectlFlags) *cobra.Command {
	o := kubectlplugin.EventsOptions{}
	c := &cobra.Command{
		Use:   "events NAME [--after ID] [--json] [--endpoint URL]",
		Short: "Follow the events of an instance (GET /events) in the terminal, reconnecting without loss",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			p, err := f.plugin(c)
			if err != nil {
				return err
			}
			return p.Events(c.Context(), args[0], o)
		},
	}
	fl := c.Flags()
	fl.Int64Var(&o.After, "after", -1, "replay the events after this id first (0: every retained event; default: only new ones)")
	fl.BoolVar(&o.JSON, "json", false, "print each event as one line of JSON: {\"id\":…,\"event\":<webhook payload>}")
	fl.IntVar(&o.GiveUpAfter, "give-up-after", 0, "give up after this many failed connections in a row (default 0: never)")
	fl.StringVar(&o.Endpoint, "endpoint", "", "instance URL (default status.endpoint; after `kubectl port-forward svc/NAME 8080` use http://127.0.0.1:8080)")
	return c
}
