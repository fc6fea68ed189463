package agent_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/internal/testenv"
)

// spec.settings sets the pacing and owns the fields it sets; removed fields go back to the API.
func TestSettingsFromSpec(t *testing.T) {
	limit := int32(25)
	ns, cfg := setup(t, "gamma", func(mi *v1alpha1.MessengerInstance) {
		mi.Spec.Settings = &v1alpha1.SettingsSpec{SendDelay: &metav1.Duration{Duration: 2 * time.Second}, DailyLimit: &limit}
	})
	eng := &fakeEngine{st: account.Status{AccountStatus: account.StatusLoading, Substatus: account.SubstatusConnecting}}
	p := startAgent(t, cfg, ns, "gamma", eng)
	testenv.Eventually(t, "spec settings applied", func() error {
		st := p.store.Settings()
		if st.SendDelay != 2*time.Second || st.DailyLimit != 25 {
			return fmt.Errorf("settings %+v", st)
		}
		if _, owned := p.agent.SettingsManagedBy(); !slices.Equal(owned, []string{"sendDelay", "dailyLimit"}) {
			return fmt.Errorf("owned %v", owned)
		}
		// The settings are visible in memory just before their transaction commits: the
		// history entry written with them may lag by that instant.
		if h, err := p.store.History(t.Context(), 10); err != nil || len(h) == 0 || h[0].By != "spec" {
			return fmt.Errorf("history %+v, %v: the spec's change is not recorded as the spec's", h, err)
		}
		return nil
	})

	update(t, ns, "gamma", func(mi *v1alpha1.MessengerInstance) { mi.Spec.Settings.DailyLimit = nil })
	testenv.Eventually(t, "removed field released", func() error {
		if owner, owned := p.agent.SettingsManagedBy(); owner == "" || !slices.Equal(owned, []string{"sendDelay"}) {
			return fmt.Errorf("owned %v", owned)
		}
		if st := p.store.Settings(); st.DailyLimit != 25 {
			return fmt.Errorf("a released field changed: %+v", st)
		}
		return nil
	})
}
