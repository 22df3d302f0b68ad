package app

import (
	"context"
	"errors"
	"time"

	"github.com/herd-ips/herd/internal/geoip"
)

// GeoIPReload is how often the agent checks whether herd geoip update
// replaced the databases.
const GeoIPReload = time.Minute

// startGeoIP opens the GeoIP databases, when enrichment is enabled. A
// missing or broken database turns enrichment off with one log line: the
// agent never fetches databases (herd geoip update does). Once open, the
// databases are reloaded when their files are replaced.
func (a *agent) startGeoIP(context.Context) (func(), error) {
	if !a.cfg.GeoIP.Enabled {
		return nil, nil
	}
	db, err := geoip.Open(a.cfg.GeoIP.Dir)
	switch {
	case errors.Is(err, geoip.ErrNoDatabase):
		a.log.Info("agent: geoip enrichment off: no database; install one with herd geoip update", "dir", a.cfg.GeoIP.Dir)
		return nil, nil
	case err != nil:
		a.log.Warn("agent: geoip enrichment off", "err", err)
		return nil, nil
	}
	t := db.Tables()
	a.log.Info("agent: geoip enrichment on", "dir", a.cfg.GeoIP.Dir, "country_ranges", t.CountryRanges, "asn_ranges", t.ASNRanges)
	a.geo = db
	a.run(func(ctx context.Context) error {
		tick := a.clk.NewTicker(GeoIPReload)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C():
			}
			switch again, err := db.Reload(); {
			case err != nil:
				a.log.Warn("agent: geoip databases not reloaded; the previous ones stay", "err", err)
			case again:
				t := db.Tables()
				a.log.Info("agent: geoip databases reloaded", "country_ranges", t.CountryRanges, "asn_ranges", t.ASNRanges)
			}
		}
	})
	return nil, nil
}
