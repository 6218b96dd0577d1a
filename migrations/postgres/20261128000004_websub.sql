-- herald is its own WebSub hub: the same tables and columns as
-- migrations/sqlite/20261128000002_websub.sql (read there what each is for).

ALTER TABLE activities ADD COLUMN protocol TEXT NOT NULL DEFAULT 'activitypub'
    CHECK (protocol IN ('activitypub', 'websub', 'ping'));
ALTER TABLE activities ADD COLUMN topic TEXT;
ALTER TABLE activities ADD COLUMN media_type TEXT;

CREATE TABLE websub_subscriptions (
    topic         TEXT NOT NULL,
    callback      TEXT NOT NULL,
    secret        TEXT,
    lease_seconds BIGINT NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (topic, callback)
);
CREATE INDEX websub_subscriptions_by_expiry ON websub_subscriptions (expires_at);

CREATE TABLE websub_topics (
    topic          TEXT PRIMARY KEY,
    tag            TEXT NOT NULL,
    revision       BIGINT NOT NULL,
    distributed_at TIMESTAMPTZ NOT NULL
);
