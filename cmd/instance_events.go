package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/messenger-operator/messenger-operator/instance/app"
	"github.com/messenger-operator/messenger-operator/instance/events"
	natssink "github.com/messenger-operator/messenger-operator/instance/sink/nats"
)

// eventsOptions are the flags of GET /events and the NATS sink (`instance`).
type eventsOptions struct {
	retention      time.Duration
	retentionCount int64
	natsURL        string
	natsPrefix     string
	natsStream     string
	natsCreate     bool
	natsCredsDir   string
}

func addEventsFlags(f *pflag.FlagSet, o *eventsOptions) {
	f.DurationVar(&o.retention, "events-retention", events.DefaultRetention,
		"how long GET /events can replay an event (never less than the NATS sink still needs)")
	f.Int64Var(&o.retentionCount, "events-retention-count", events.DefaultRetentionCount,
		"how many of the newest events GET /events can replay at most")
	f.StringVar(&o.natsURL, "nats-url", "", "publish events to NATS JetStream at this URL (empty: off)")
	f.StringVar(&o.natsPrefix, "nats-subject-prefix", natssink.DefaultSubjectPrefix,
		"NATS subjects are <prefix>.<namespace>.<instance>.<kind>")
	f.StringVar(&o.natsStream, "nats-stream", natssink.DefaultStream, "JetStream stream holding the subjects")
	f.BoolVar(&o.natsCreate, "nats-create-stream", true, "create the stream (capturing <prefix>.>) when it is missing")
	f.StringVar(&o.natsCredsDir, "nats-credentials-dir", "",
		"directory of NATS credentials (a mounted Secret): file creds (a .creds file), or user and password, or token")
}

// apply checks the flags and sets them in cfg; credentials are read from the directory's files.
func (o eventsOptions) apply(cfg *app.Config) error {
	if o.retention < 0 || o.retentionCount < 0 {
		return errors.New("--events-retention and --events-retention-count must not be negative")
	}
	if o.retention == 0 {
		o.retention = events.DefaultRetention // options built in code, not from flags
	}
	if o.retentionCount == 0 {
		o.retentionCount = events.DefaultRetentionCount
	}
	cfg.EventsRetention, cfg.EventsRetentionCount = o.retention, o.retentionCount
	if o.natsURL == "" {
		return nil
	}
	nc := &natssink.Config{URL: o.natsURL, SubjectPrefix: o.natsPrefix, Stream: o.natsStream, CreateStream: o.natsCreate}
	if o.natsCredsDir != "" {
		read := func(name string) (string, error) {
			b, err := os.ReadFile(filepath.Join(o.natsCredsDir, name))
			if errors.Is(err, os.ErrNotExist) {
				return "", nil
			}
			if err != nil {
				return "", fmt.Errorf("--nats-credentials-dir: %w", err)
			}
			return strings.TrimSpace(string(b)), nil
		}
		if _, err := os.Stat(filepath.Join(o.natsCredsDir, "creds")); err == nil {
			nc.CredsFile = filepath.Join(o.natsCredsDir, "creds")
		}
		var err error
		for name, dst := range map[string]*string{"user": &nc.User, "password": &nc.Password, "token": &nc.Token} {
			if *dst, err = read(name); err != nil {
				return err
			}
		}
	}
	cfg.NATS = nc
	return nil
}
