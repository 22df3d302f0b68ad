-- Private groups' blobs, PostgreSQL dialect: the hub relays them and cannot
-- read them (docs/groups.md). It keeps the group id, the epoch and the size
-- beside the opaque bytes, and when it received them.

-- +goose Up
CREATE TABLE group_blobs (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id    BYTEA  NOT NULL,
    epoch       BIGINT NOT NULL,
    size        BIGINT NOT NULL,
    blob        BYTEA  NOT NULL,
    received_ns BIGINT NOT NULL
);
CREATE INDEX group_blobs_group ON group_blobs (group_id, seq);
CREATE INDEX group_blobs_received ON group_blobs (received_ns);

-- +goose Down
DROP TABLE group_blobs;
