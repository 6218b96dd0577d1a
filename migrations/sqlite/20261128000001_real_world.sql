-- Activities received, by id: a replayed or redelivered activity changes
-- nothing. Rows older than the longest signature validity are pruned.
CREATE TABLE received_activities (
    id          TEXT PRIMARY KEY NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX received_activities_by_time ON received_activities (received_at);

-- Cached documents that changed without a publish (a follower came or
-- went, a Note was liked): every running server reads the rows after the
-- last one it saw and drops exactly those documents. Pruned after a day.
CREATE TABLE invalidations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    at  TEXT NOT NULL
);

-- What followers were last told about the account (a hash of the actor
-- document, the account it moved to), so that a change is announced once.
CREATE TABLE account_state (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Hosts are keyed by host[:port] from now on. A host whose request timed
-- out or failed has its circuit open until circuit_until; circuit_opens
-- counts the failed probes since it last answered (each doubles the wait).
ALTER TABLE hosts ADD COLUMN circuit_until TEXT;
ALTER TABLE hosts ADD COLUMN circuit_opens INTEGER NOT NULL DEFAULT 0;

CREATE INDEX deliveries_by_inbox ON deliveries (inbox, state);
CREATE INDEX deliveries_by_age ON deliveries (state, updated_at);
CREATE INDEX interactions_by_actor ON interactions (actor, kind);

-- The key an activity must be signed with, when not the current one: the
-- Update announcing a key rotation is signed with the retired key, which
-- followers' servers still hold, so that they accept it and learn the new one.
ALTER TABLE activities ADD COLUMN signing_key INTEGER REFERENCES actor_keys (id);
