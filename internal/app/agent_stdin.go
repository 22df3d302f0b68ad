package app

import "github.com/herd-ips/herd/internal/config"

// stdinOnly returns the configuration of a run that reads standard input:
// the configured log files, journal and syslog listener are not followed,
// and the local API is off (the run is short and may sit beside a running
// agent that owns the API's port).
func stdinOnly(cfg *config.Config) *config.Config {
	c := *cfg
	c.Sources = nil
	c.Journald.Enabled = false
	c.Syslog = config.Syslog{}
	c.API.Listen = ""
	return &c
}
