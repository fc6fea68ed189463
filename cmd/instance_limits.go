package cmd

import (
	"github.com/spf13/pflag"

	"github.com/messenger-operator/messenger-operator/instance/api"
	"github.com/messenger-operator/messenger-operator/instance/app"
)

func addServerLimitFlags(f *pflag.FlagSet, l *serverLimits) {
	f.IntVar(&l.maxConnections, "max-connections", app.DefaultMaxConnections,
		"most client connections served at once; further ones wait to be accepted")
	f.DurationVar(&l.readTimeout, "read-timeout", app.DefaultReadTimeout,
		"time to read a request; a larger body gets more at --min-body-rate")
	f.Int64Var(&l.minBodyRate, "min-body-rate", api.DefaultMinBodyRate,
		"slowest request body accepted past --read-timeout, in bytes per second")
	f.StringSliceVar(&l.trustedProxies, "trusted-proxies", nil,
		"addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client (none by default)")
}
