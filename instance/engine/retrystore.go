package engine

import (
	"context"
	"sync/atomic"
	"time"

	"go.mau.fi/whatsmeow/store"
)

// retryStorePruneEvery is how often the retry message store's old messages are deleted.
const retryStorePruneEvery = 12 * time.Hour

// pruneRetryStoreRarely makes the device's retry message store delete its old messages at most
// every retryStorePruneEvery. whatsmeow means to (it checks a "last cleared" time) but never sets
// that time, so it ran the DELETE with every message sent.
func pruneRetryStoreRarely(dev *store.Device) {
	if dev.EventBuffer == nil {
		return
	}
	if _, ok := dev.EventBuffer.(*rarePrune); ok {
		return
	}
	dev.EventBuffer = &rarePrune{EventBuffer: dev.EventBuffer}
}

// rarePrune is an event buffer whose DeleteOldOutgoingEvents runs at most every
// retryStorePruneEvery.
type rarePrune struct {
	store.EventBuffer
	last atomic.Int64 // Unix nanoseconds of the last prune
}

func (r *rarePrune) DeleteOldOutgoingEvents(ctx context.Context) error {
	now, last := time.Now().UnixNano(), r.last.Load()
	if last != 0 && time.Duration(now-last) < retryStorePruneEvery || !r.last.CompareAndSwap(last, now) {
		return nil
	}
	return r.EventBuffer.DeleteOldOutgoingEvents(ctx)
}
