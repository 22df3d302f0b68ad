-- Private groups' blobs, SQLite dialect: the hub relays them and cannot
-- read them (docs/groups.md). It keeps the group id, the epoch and the size
-- beside the opaque bytes, and when it received them.

-- +goose Up
CREATE TABLE group_blobs (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id    BLOB    NOT NULL,
    epoch       INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    blob        BLOB    NOT NULL,
    received_ns INTEGER NOT NULL
);
CREATE INDEX group_blobs_group ON group_blobs (group_id, seq);
CREATE INDEX group_blobs_received ON group_blobs (received_ns);

-- +goose Down
DROP TABLE group_blobs;
