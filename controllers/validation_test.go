package controllers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
)

// TestCRDValidationRejectsBadSpecs runs each bad spec through the real API server (schema, CEL
// rules, defaults) and checks that it is refused with a message that names the problem.
func TestCRDValidationRejectsBadSpecs(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	qty := func(s string) *resource.Quantity { q := resource.MustParse(s); return &q }
	cases := []struct {
		name    string
		miName  string
		spec    v1alpha1.MessengerInstanceSpec
		wantMsg string
	}{
		{"webhook ftp", "", v1alpha1.MessengerInstanceSpec{Webhook: &v1alpha1.WebhookSpec{URL: "ftp://hooks.example/x"}},
			"webhook.url must be an absolute http:// or https:// URL"},
		{"webhook relative", "", v1alpha1.MessengerInstanceSpec{Webhook: &v1alpha1.WebhookSpec{URL: "/just/a/path"}},
			"webhook.url must be an absolute http:// or https:// URL"},
		{"webhook allowNetworks not a CIDR", "", v1alpha1.MessengerInstanceSpec{Webhook: &v1alpha1.WebhookSpec{
			URL: "http://receiver.tools.svc/hook", AllowNetworks: []string{"10.96.0.0/12", "10.0.0.0/33"}}},
			"webhook.allowNetworks must hold CIDRs"},
		{"webhook allowNetworks a hostname", "", v1alpha1.MessengerInstanceSpec{Webhook: &v1alpha1.WebhookSpec{
			URL: "http://receiver.tools.svc/hook", AllowNetworks: []string{"receiver.tools.svc"}}},
			"webhook.allowNetworks must hold CIDRs"},
		{"events.nats.url http", "", v1alpha1.MessengerInstanceSpec{Events: &v1alpha1.EventsSpec{NATS: &v1alpha1.NATSSpec{
			URL: "http://nats.messaging.svc:4222"}}}, "events.nats.url must be nats://, tls://, ws:// or wss:// URLs"},
		{"events.nats.url second one bad", "", v1alpha1.MessengerInstanceSpec{Events: &v1alpha1.EventsSpec{NATS: &v1alpha1.NATSSpec{
			URL: "nats://a:4222,b:4222"}}}, "events.nats.url must be nats://, tls://, ws:// or wss:// URLs"},
		{"events.nats.subjectPrefix wildcard", "", v1alpha1.MessengerInstanceSpec{Events: &v1alpha1.EventsSpec{NATS: &v1alpha1.NATSSpec{
			URL: "nats://nats:4222", SubjectPrefix: "wa.>"}}}, "spec.events.nats.subjectPrefix"},
		{"networkURL not a URL", "", v1alpha1.MessengerInstanceSpec{NetworkURL: "sandbox:8900"},
			"networkURL must be an absolute http:// or https:// URL"},
		{"settings sendDelay over an hour", "", v1alpha1.MessengerInstanceSpec{Settings: &v1alpha1.SettingsSpec{
			SendDelay: &metav1.Duration{Duration: 2 * time.Hour}}}, "settings.sendDelay must be a duration between 0s and 1h"},
		{"settings sendJitter negative", "", v1alpha1.MessengerInstanceSpec{Settings: &v1alpha1.SettingsSpec{
			SendJitter: &metav1.Duration{Duration: -time.Second}}}, "settings.sendJitter must be a duration between 0s and 1h"},
		{"settings dailyLimit negative", "", v1alpha1.MessengerInstanceSpec{Settings: &v1alpha1.SettingsSpec{
			DailyLimit: ptr.To(int32(-1))}}, "spec.settings.dailyLimit"},
		{"hibernation idleAfter zero", "", v1alpha1.MessengerInstanceSpec{Hibernation: &v1alpha1.HibernationSpec{}},
			"hibernation.idleAfter must be a duration between 1s and 720h"},
		{"hibernation wakeEvery too often", "", v1alpha1.MessengerInstanceSpec{Hibernation: &v1alpha1.HibernationSpec{
			IdleAfter: metav1.Duration{Duration: time.Minute}, WakeEvery: &metav1.Duration{Duration: time.Second}}},
			"hibernation.wakeEvery must be a duration between 1m and 720h"},
		{"storage size zero", "", v1alpha1.MessengerInstanceSpec{Storage: &v1alpha1.StorageSpec{Size: qty("0")}},
			"storage.size must be a positive quantity"},
		{"storage and database", "", v1alpha1.MessengerInstanceSpec{
			Storage:  &v1alpha1.StorageSpec{Size: qty("1Gi")},
			Database: &v1alpha1.DatabaseSpec{SecretRef: v1alpha1.SecretKeyReference{Name: "pg"}}},
			"storage and database are mutually exclusive"},
		{"deletionPolicy unknown", "", v1alpha1.MessengerInstanceSpec{DeletionPolicy: "Destroy"},
			`spec.deletionPolicy: Unsupported value: "Destroy"`},
		{"tokenSecretRef names generated Secret", "tok", v1alpha1.MessengerInstanceSpec{TokenSecretRef: &v1alpha1.SecretKeyReference{Name: "tok-token"}},
			"spec.tokenSecretRef must not name <name>-token"},
		{"secret name invalid", "", v1alpha1.MessengerInstanceSpec{Proxy: &v1alpha1.ProxySpec{SecretRef: v1alpha1.SecretKeyReference{Name: "Bad_Name"}}},
			"spec.proxy.secretRef.name in body should match"},
		{"database without secret name", "", v1alpha1.MessengerInstanceSpec{Database: &v1alpha1.DatabaseSpec{}},
			"spec.database.secretRef.name"},
		{"name starts with digit", "1abc", v1alpha1.MessengerInstanceSpec{},
			"metadata.name must be a DNS-1035 label"},
		{"name too long", strings.Repeat("a", 53), v1alpha1.MessengerInstanceSpec{},
			"at most 52 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.miName
			if name == "" {
				name = "bad"
			}
			mi := &v1alpha1.MessengerInstance{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: tc.spec}
			err := k8s.Create(context.Background(), mi)
			if err == nil {
				_ = k8s.Delete(context.Background(), mi)
				t.Fatalf("accepted; want refusal with %q", tc.wantMsg)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err.Error(), tc.wantMsg)
			}
		})
	}
}

// TestCRDValidationImmutableAndDefaults checks the update rules and the defaults the API server
// fills in.
func TestCRDValidationImmutableAndDefaults(t *testing.T) {
	requireEnv(t)
	ns := newNamespace(t)
	ctx := context.Background()
	mi := &v1alpha1.MessengerInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "imm", Namespace: ns},
		Spec:       v1alpha1.MessengerInstanceSpec{Storage: &v1alpha1.StorageSpec{}},
	}
	if err := k8s.Create(ctx, mi); err != nil {
		t.Fatalf("valid instance refused: %v", err)
	}
	if mi.Spec.DeletionPolicy != v1alpha1.DeletionPolicyRetain || mi.Spec.Storage.Size == nil || mi.Spec.Storage.Size.String() != "1Gi" {
		t.Errorf("defaults: deletionPolicy %q size %v", mi.Spec.DeletionPolicy, mi.Spec.Storage.Size)
	}

	grown := mi.DeepCopy()
	q := resource.MustParse("2Gi")
	grown.Spec.Storage.Size = &q
	if err := k8s.Update(ctx, grown); err == nil || !strings.Contains(err.Error(), "storage is immutable") {
		t.Errorf("storage change: err = %v, want 'storage is immutable'", err)
	}

	switched := mi.DeepCopy()
	switched.Spec.Storage = nil
	switched.Spec.Database = &v1alpha1.DatabaseSpec{SecretRef: v1alpha1.SecretKeyReference{Name: "pg"}}
	if err := k8s.Update(ctx, switched); err == nil || !strings.Contains(err.Error(), "cannot be switched after creation") {
		t.Errorf("backend switch: err = %v, want 'cannot be switched after creation'", err)
	}

	ok := mi.DeepCopy()
	ok.Spec.Suspend = true
	ok.Spec.Webhook = &v1alpha1.WebhookSpec{URL: "https://hooks.example/in"}
	if err := k8s.Update(ctx, ok); err != nil {
		t.Errorf("valid update refused: %v", err)
	}
}

// TestSampleIsValid dry-runs config/samples against the real API server.
func TestSampleIsValid(t *testing.T) {
	requireEnv(t)
	raw, err := os.ReadFile(filepath.Join("..", "config", "samples", "messenger-operator.io_v1alpha1_messengerinstance.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mi := &v1alpha1.MessengerInstance{}
	if err := yaml.UnmarshalStrict(raw, mi); err != nil {
		t.Fatalf("sample does not decode strictly: %v", err)
	}
	mi.Namespace = newNamespace(t)
	if err := k8s.Create(context.Background(), mi, client.DryRunAll); err != nil {
		t.Errorf("sample refused: %v", err)
	}
}
