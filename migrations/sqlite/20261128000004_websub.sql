-- herald is its own WebSub hub (W3C WebSub Recommendation).

-- What a queued job is: an ActivityPub activity (signed POST to an inbox),
-- a WebSub distribution (the feed's bytes POSTed to a subscriber's
-- callback, with the topic's media type) or a ping to an external hub
-- (hub.mode=publish). The delivery engine reads `protocol` at claim time.
ALTER TABLE activities ADD COLUMN protocol TEXT NOT NULL DEFAULT 'activitypub'
    CHECK (protocol IN ('activitypub', 'websub', 'ping'));
ALTER TABLE activities ADD COLUMN topic TEXT;
ALTER TABLE activities ADD COLUMN media_type TEXT;

-- Verified subscriptions: one per (topic, callback). A renewal moves
-- expires_at; an expired one gets no distributions and is pruned.
CREATE TABLE websub_subscriptions (
    topic         TEXT NOT NULL,
    callback      TEXT NOT NULL,
    secret        TEXT,
    lease_seconds INTEGER NOT NULL,
    expires_at    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (topic, callback)
);
CREATE INDEX websub_subscriptions_by_expiry ON websub_subscriptions (expires_at);

-- The content last distributed per topic (the representation's strong
-- tag) and the site revision it was read at: instances compare-and-set it,
-- so that a change is distributed once however many instances notice it.
CREATE TABLE websub_topics (
    topic          TEXT PRIMARY KEY NOT NULL,
    tag            TEXT NOT NULL,
    revision       INTEGER NOT NULL,
    distributed_at TEXT NOT NULL
);
