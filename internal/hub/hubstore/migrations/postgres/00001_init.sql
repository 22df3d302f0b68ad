-- The hub's schema, PostgreSQL dialect. Times are UTC unix nanoseconds;
-- addresses are 4 or 16 raw bytes (signals) or the canonical text of a
-- netip.Prefix (listing, changes).

-- +goose Up
CREATE TABLE reporters (
    id          BYTEA  PRIMARY KEY,
    pubkey      BYTEA  NOT NULL,
    network     TEXT   NOT NULL,
    enrolled_ns BIGINT NOT NULL
);

CREATE TABLE signals (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reporter    BYTEA    NOT NULL,
    source      BYTEA    NOT NULL,
    class       SMALLINT NOT NULL,
    minute      BIGINT   NOT NULL,
    network     TEXT     NOT NULL,
    received_ns BIGINT   NOT NULL
);
CREATE INDEX signals_minute ON signals (minute);

CREATE TABLE listing (
    prefix   TEXT   PRIMARY KEY,
    since_ns BIGINT NOT NULL
);

CREATE TABLE changes (
    seq    BIGINT   PRIMARY KEY,
    prefix TEXT     NOT NULL,
    added  SMALLINT NOT NULL,
    at_ns  BIGINT   NOT NULL
);

-- +goose Down
DROP TABLE changes;
DROP TABLE listing;
DROP TABLE signals;
DROP TABLE reporters;
