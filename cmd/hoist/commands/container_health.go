package commands

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/hoistbuild/hoist/run/container"
)

// healthFlags are run/create's --health-* flags and --no-healthcheck.
type healthFlags struct {
	cmd                                           string
	interval, timeout, startPeriod, startInterval time.Duration
	retries                                       int
	disable                                       bool
}

func (f *healthFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.cmd, "health-cmd", "", "command to run to check health")
	fs.DurationVar(&f.interval, "health-interval", 0, "time between running the check (ms|s|m|h)")
	fs.DurationVar(&f.timeout, "health-timeout", 0, "maximum time to allow one check to run (ms|s|m|h)")
	fs.DurationVar(&f.startPeriod, "health-start-period", 0,
		"start period for the container to initialize before starting health-retries countdown (ms|s|m|h)")
	fs.DurationVar(&f.startInterval, "health-start-interval", 0, "time between running the check during the start period (ms|s|m|h)")
	fs.IntVar(&f.retries, "health-retries", 0, "consecutive failures needed to report unhealthy")
	fs.BoolVar(&f.disable, "no-healthcheck", false, "disable any container-specified HEALTHCHECK")
}

func (f *healthFlags) options() container.HealthOptions {
	return container.HealthOptions{Cmd: f.cmd, Interval: f.interval, Timeout: f.timeout, StartPeriod: f.startPeriod,
		StartInterval: f.startInterval, Retries: f.retries, Disable: f.disable}
}
