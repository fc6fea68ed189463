package kubectlplugin_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

func TestStatusTable(t *testing.T) {
	requireEnv(t)
	ctx := context.Background()
	ns := newNamespace(t)
	p, out := newPlugin(ns)
	if err := p.Status(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "No MessengerInstances found in namespace "+ns) {
		t.Fatalf("empty namespace: %q", out.String())
	}
	createInstance(t, ns, "sales", nil, v1alpha1.MessengerInstanceStatus{AccountStatus: "authenticated", Phone: "15550001111",
		QueueLength: 3, Conditions: readyCondition(metav1.ConditionTrue, "Authenticated")})
	createInstance(t, ns, "support", nil, v1alpha1.MessengerInstanceStatus{AccountStatus: "got qr code",
		Conditions: readyCondition(metav1.ConditionFalse, "AwaitingAuthentication")})
	createInstance(t, ns, "fresh", nil, v1alpha1.MessengerInstanceStatus{})
	other := newNamespace(t)
	createInstance(t, other, "elsewhere", nil, v1alpha1.MessengerInstanceStatus{AccountStatus: "init"})

	out.Reset()
	if err := p.Status(ctx, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 rows:\n%s", out.String())
	}
	want := []string{
		`^NAME\s+STATUS\s+PHONE\s+READY\s+REASON\s+QUEUE\s+AGE$`,
		`^fresh\s+-\s+-\s+Unknown\s+-\s+0\s+\S+$`,
		`^sales\s+authenticated\s+15550001111\s+True\s+Authenticated\s+3\s+\S+$`,
		`^support\s+got qr code\s+-\s+False\s+AwaitingAuthentication\s+0\s+\S+$`,
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d %q does not match %s", i, lines[i], re)
		}
	}

	out.Reset()
	if err := p.Status(ctx, true); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.HasPrefix(s, "NAMESPACE") || !strings.Contains(s, other) || !strings.Contains(s, "elsewhere") {
		t.Fatalf("-A table lacks the other namespace:\n%s", s)
	}
}
