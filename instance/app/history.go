package app

import (
	"context"
	"log/slog"

	"github.com/messenger-operator/messenger-operator/instance/account"
	"github.com/messenger-operator/messenger-operator/instance/store"
)

// recordStatusHistory keeps the engine's status changes in the store's history (GET
// /instanceStatuses): one entry per change of status or substatus, not per notification.
func recordStatusHistory(ctx context.Context, eng account.Engine, st *store.Store, log *slog.Logger) {
	n, ok := eng.(account.Notifier)
	if !ok {
		return
	}
	changes, stop := n.Subscribe()
	defer stop()
	var last account.Status
	for {
		cur := eng.Status()
		if cur.AccountStatus != last.AccountStatus || cur.Substatus != last.Substatus {
			err := st.AddHistory(ctx, store.HistoryEntry{Kind: store.HistoryStatus, AccountStatus: cur.AccountStatus,
				Substatus: cur.Substatus, Message: cur.Message})
			if err != nil && ctx.Err() == nil {
				log.Warn("recording a status change", "error", err)
			}
			last = cur
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		}
	}
}
