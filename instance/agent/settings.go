package agent

import (
	"context"
	"fmt"
	"time"

	v1alpha1 "github.com/messenger-operator/messenger-operator/api/v1alpha1"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// applySettings makes the stored settings follow the fields spec.settings sets (spec wins over
// POST /settings) and remembers which fields it owns. A field removed from the spec keeps its
// value and becomes the API's again.
func (a *Agent) applySettings(ctx context.Context, mi *v1alpha1.MessengerInstance, kick func()) error {
	owned, change := specSettings(mi.Spec.Settings)
	a.mu.Lock()
	a.specSettings = owned
	a.mu.Unlock()
	if len(owned) == 0 {
		return nil
	}
	st := a.opts.Store
	before := st.Settings()
	after := before
	change(&after)
	if after == before {
		return nil
	}
	if _, err := st.UpdateSettings(ctx, "spec", change); err != nil {
		return fmt.Errorf("storing spec.settings: %w", err)
	}
	a.log.Info("settings applied from the MessengerInstance", "fields", owned)
	kick()
	return nil
}

// specSettings returns the /settings names of the fields spec sets and the change that applies them.
func specSettings(spec *v1alpha1.SettingsSpec) ([]string, func(*store.Settings)) {
	if spec == nil {
		return nil, func(*store.Settings) {}
	}
	var owned []string
	var steps []func(*store.Settings)
	if d := spec.SendDelay; d != nil {
		owned = append(owned, "sendDelay")
		steps = append(steps, func(st *store.Settings) { st.SendDelay = d.Duration.Round(time.Millisecond) })
	}
	if d := spec.SendJitter; d != nil {
		owned = append(owned, "sendJitter")
		steps = append(steps, func(st *store.Settings) { st.SendJitter = d.Duration.Round(time.Millisecond) })
	}
	if n := spec.DailyLimit; n != nil {
		owned = append(owned, "dailyLimit")
		steps = append(steps, func(st *store.Settings) { st.DailyLimit = int(*n) })
	}
	if b := spec.ChatUpdateOn; b != nil {
		owned = append(owned, "chatUpdateOn")
		steps = append(steps, func(st *store.Settings) { st.ChatUpdates = *b })
	}
	if b := spec.IgnoreOldMessages; b != nil {
		owned = append(owned, "ignoreOldMessages")
		steps = append(steps, func(st *store.Settings) { st.IgnoreOldMessages = *b })
	}
	return owned, func(st *store.Settings) {
		for _, step := range steps {
			step(st)
		}
	}
}

// SettingsManagedBy names spec.settings and the /settings fields it sets (none without them).
func (a *Agent) SettingsManagedBy() (string, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.specSettings) == 0 {
		return "", nil
	}
	return "spec.settings of MessengerInstance " + a.opts.Namespace + "/" + a.opts.Name, append([]string(nil), a.specSettings...)
}
