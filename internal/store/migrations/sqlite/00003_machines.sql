-- Machines: herd agents on other hosts that report their alerts to this
-- store's local API (internal/lapi, POST /v1/alerts), SQLite dialect.

-- +goose Up
CREATE TABLE machines (
    name          TEXT PRIMARY KEY,
    password_hash BLOB    NOT NULL,
    created_ns    INTEGER NOT NULL
);

-- secrets holds values generated once per store, such as the key that signs
-- the machines' tokens, so that every API process sharing the store agrees.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB    NOT NULL,
    created_ns INTEGER NOT NULL
);

-- machine is the reporting machine's name, '' for this host's own alerts;
-- remote_id is the id the machine gave the alert, so that an alert sent
-- twice (the answer was lost) is stored once.
ALTER TABLE alerts ADD COLUMN machine TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN remote_id TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX alerts_remote ON alerts (machine, remote_id) WHERE remote_id <> '';

-- +goose Down
DROP INDEX alerts_remote;
ALTER TABLE alerts DROP COLUMN remote_id;
ALTER TABLE alerts DROP COLUMN machine;
DROP TABLE secrets;
DROP TABLE machines;
