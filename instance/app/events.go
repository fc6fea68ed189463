package app

import (
	"context"
	"log/slog"

	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/events"
	natssink "github.com/messenger-operator/messenger-operator/instance/sink/nats"
)

// buildEvents builds the event stream of GET /events and, when configured, the NATS sink; without
// one it forgets a NATS cursor of an earlier configuration, so it no longer holds back pruning.
func buildEvents(cfg Config, p *parts, instanceID string, log *slog.Logger) error {
	enc := events.Encoder{InstanceID: instanceID, Rewrite: api.RewriteMedia(p.publicURL)}
	var err error
	p.events, err = events.New(events.Options{Store: p.store, Encoder: enc, Retention: cfg.EventsRetention,
		RetentionCount: cfg.EventsRetentionCount, Logger: log})
	if err != nil {
		return err
	}
	if cfg.NATS == nil || cfg.NATS.URL == "" {
		return p.store.DropEventCursor(context.Background(), natssink.CursorName)
	}
	p.nats, err = natssink.New(natssink.Options{Config: *cfg.NATS, Store: p.store, Encoder: enc,
		Namespace: cfg.Namespace, Instance: instanceID, Logger: log})
	return err
}
