-- The first schema of herd's store, SQLite dialect. Times are UTC unix
-- nanoseconds; addresses are the canonical text of a netip.Prefix or Addr.

-- +goose Up
-- stream holds the one counter that numbers every change to decisions: an
-- insert takes new ids from it and a deletion takes one number for all the
-- rows it deletes, so a bouncer's cursor orders inserts and deletions alike.
CREATE TABLE stream (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO stream (id, seq) VALUES (1, 0);

CREATE TABLE decisions (
    id          INTEGER PRIMARY KEY,
    type        INTEGER NOT NULL,
    scope       TEXT    NOT NULL,
    duration_ns INTEGER NOT NULL,
    until_ns    INTEGER NOT NULL,
    scenario    TEXT    NOT NULL,
    origin      TEXT    NOT NULL,
    simulated   INTEGER NOT NULL,
    created_ns  INTEGER NOT NULL,
    alert_id    INTEGER NOT NULL,
    deleted_seq INTEGER,
    deleted_ns  INTEGER
);
CREATE INDEX decisions_live_until ON decisions (until_ns) WHERE deleted_seq IS NULL;
CREATE INDEX decisions_live_scope ON decisions (scope) WHERE deleted_seq IS NULL;
CREATE INDEX decisions_deleted ON decisions (deleted_seq) WHERE deleted_seq IS NOT NULL;

CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    scenario   TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    first_ns   INTEGER NOT NULL,
    last_ns    INTEGER NOT NULL,
    events     INTEGER NOT NULL,
    remedy     INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    lines      TEXT    NOT NULL
);
CREATE INDEX alerts_source ON alerts (source);
CREATE INDEX alerts_scenario ON alerts (scenario);
CREATE INDEX alerts_created ON alerts (created_ns);

CREATE TABLE offsets (
    source         TEXT PRIMARY KEY,
    inode          INTEGER NOT NULL,
    dev            INTEGER NOT NULL,
    pos            INTEGER NOT NULL,
    fingerprint    INTEGER NOT NULL,
    journal_cursor TEXT    NOT NULL,
    updated_ns     INTEGER NOT NULL
);

CREATE TABLE bouncers (
    name       TEXT PRIMARY KEY,
    key_hash   BLOB    NOT NULL UNIQUE,
    created_ns INTEGER NOT NULL
);

-- +goose Down
DROP TABLE bouncers;
DROP TABLE offsets;
DROP TABLE alerts;
DROP TABLE decisions;
DROP TABLE stream;
