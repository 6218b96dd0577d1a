-- Hosts whose deliveries failed: the days (UTC, YYYY-MM-DD, space-separated)
-- with failures, and since when the host counts as unavailable (failures on
-- 7 different days, Mastodon's rule). A successful delivery or an activity
-- received from the host deletes its row.
CREATE TABLE hosts (
    host              TEXT PRIMARY KEY NOT NULL,
    failure_days      TEXT NOT NULL,
    unavailable_since TEXT
);
