-- GeoIP enrichment of alerts (internal/geoip): the source's country
-- (ISO 3166-1 alpha-2, '' unknown) and autonomous system (0 unknown).

-- +goose Up
ALTER TABLE alerts ADD COLUMN country TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN asn BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN as_org TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE alerts DROP COLUMN as_org;
ALTER TABLE alerts DROP COLUMN asn;
ALTER TABLE alerts DROP COLUMN country;
