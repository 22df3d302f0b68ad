-- The hub's schema, SQLite dialect. Times are UTC unix nanoseconds;
-- addresses are 4 or 16 raw bytes (signals) or the canonical text of a
-- netip.Prefix (listing, changes).

-- +goose Up
CREATE TABLE reporters (
    id          BLOB    PRIMARY KEY,
    pubkey      BLOB    NOT NULL,
    network     TEXT    NOT NULL,
    enrolled_ns INTEGER NOT NULL
);

CREATE TABLE signals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    reporter    BLOB    NOT NULL,
    source      BLOB    NOT NULL,
    class       INTEGER NOT NULL,
    minute      INTEGER NOT NULL,
    network     TEXT    NOT NULL,
    received_ns INTEGER NOT NULL
);
CREATE INDEX signals_minute ON signals (minute);

CREATE TABLE listing (
    prefix   TEXT    PRIMARY KEY,
    since_ns INTEGER NOT NULL
);

CREATE TABLE changes (
    seq    INTEGER PRIMARY KEY,
    prefix TEXT    NOT NULL,
    added  INTEGER NOT NULL,
    at_ns  INTEGER NOT NULL
);

-- +goose Down
DROP TABLE changes;
DROP TABLE listing;
DROP TABLE signals;
DROP TABLE reporters;
