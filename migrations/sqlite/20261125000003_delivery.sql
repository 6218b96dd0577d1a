-- Remote actors herald has fetched (followers, senders): their inboxes and
-- public key, cached.
CREATE TABLE remote_actors (
    id           TEXT PRIMARY KEY NOT NULL,
    inbox        TEXT NOT NULL,
    shared_inbox TEXT,
    key_id       TEXT NOT NULL,
    public_pem   TEXT NOT NULL,
    fetched_at   TEXT NOT NULL
);

-- Activities herald sent, as JSON, one row each.
CREATE TABLE activities (
    id         TEXT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    article_id TEXT,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- The durable delivery queue: one job per (activity, inbox). A worker
-- claims a job by setting locked_until; a job whose lock expired (its
-- worker died) is claimed again.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY NOT NULL,
    activity_id     TEXT NOT NULL REFERENCES activities (id),
    inbox           TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (activity_id, inbox)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);

-- Likes, boosts and replies received, per article.
CREATE TABLE interactions (
    activity_id TEXT PRIMARY KEY NOT NULL,
    article_id  TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('like', 'announce', 'reply')),
    actor       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX interactions_by_article ON interactions (article_id, kind);
