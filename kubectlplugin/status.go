package kubectlplugin

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// Status prints a table of the MessengerInstances of the namespace (all namespaces when all is
// true): account status, phone, Ready with its reason, queue length and age.
func (p *Plugin) Status(ctx context.Context, all bool) error {
	list := &v1alpha1.MessengerInstanceList{}
	var opts []client.ListOption
	if !all {
		opts = append(opts, client.InNamespace(p.Namespace))
	}
	if err := p.Client.List(ctx, list, opts...); err != nil {
		return fmt.Errorf("listing MessengerInstances: %w", err)
	}
	if len(list.Items) == 0 {
		where := "namespace " + p.Namespace
		if all {
			where = "any namespace"
		}
		_, err := fmt.Fprintf(p.Out, "No MessengerInstances found in %s.\n", where)
		return err
	}
	sort.Slice(list.Items, func(i, j int) bool {
		a, b := list.Items[i], list.Items[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	tw := tabwriter.NewWriter(p.Out, 0, 8, 3, ' ', 0)
	if all {
		fmt.Fprint(tw, "NAMESPACE\t")
	}
	fmt.Fprintln(tw, "NAME\tSTATUS\tPHONE\tREADY\tREASON\tQUEUE\tAGE")
	now := p.now()
	for i := range list.Items {
		mi := &list.Items[i]
		if all {
			fmt.Fprintf(tw, "%s\t", mi.Namespace)
		}
		ready, reason := "Unknown", ""
		if c := meta.FindStatusCondition(mi.Status.Conditions, v1alpha1.ConditionReady); c != nil {
			ready, reason = string(c.Status), c.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mi.Name, orDash(mi.Status.AccountStatus), orDash(mi.Status.Phone),
			ready, orDash(reason), strconv.FormatInt(mi.Status.QueueLength, 10), age(now, mi.CreationTimestamp.Time))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func age(now, created time.Time) string {
	if created.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(created))
}
