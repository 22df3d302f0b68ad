-- herd alerts inspect lists the decisions taken on an alert.

-- +goose Up
CREATE INDEX decisions_alert ON decisions (alert_id) WHERE alert_id <> 0;

-- +goose Down
DROP INDEX decisions_alert;
