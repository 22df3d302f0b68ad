package config

import (
	"fmt"
	"time"
)

// Location returns the time zone of log timestamps that carry none:
// timezone, or the system's when unset.
func (c *Config) Location() (*time.Location, error) {
	if c.Timezone == "" {
		return time.Local, nil
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone: %w", err)
	}
	return loc, nil
}

// StdinOnly returns the configuration of a run that reads standard input:
// the configured log files, journal and syslog listener are not followed,
// and the local API and the console are off (the run is short and may sit beside a running
// agent that owns the API's port).
func (c *Config) StdinOnly() *Config {
	s := *c
	s.Sources = nil
	s.Journald.Enabled = false
	s.Syslog = Syslog{}
	s.API.Listen = ""
	s.Console.Enabled = false
	s.ControlSocket = ""
	return &s
}
