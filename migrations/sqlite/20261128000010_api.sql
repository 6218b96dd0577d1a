-- The publishing API (/api/): bearer tokens, the Markdown of the articles it
-- writes, and the responses kept for Idempotency-Key retries.

-- A token is shown once, when made; only its SHA-256 (hex) is kept. A
-- revoked token keeps its row (revoked_at set) and frees its name.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    read_only    INTEGER NOT NULL CHECK (read_only IN (0, 1)),
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE UNIQUE INDEX api_tokens_live_names ON api_tokens (name) WHERE revoked_at IS NULL;

-- The Markdown body of each article written through the API (articles.data
-- holds the rendered HTML; the API hands the Markdown back and merges
-- PATCHes into it), and the token that last wrote it. Such articles have
-- articles.source = 'api'.
CREATE TABLE api_articles (
    article_id TEXT PRIMARY KEY NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    markdown   TEXT,
    token      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- The first response to a request with an Idempotency-Key, per token and
-- key, with the SHA-256 of the request (method, path, body). status is NULL
-- while the first request is still running. Pruned after a day.
CREATE TABLE idempotency_keys (
    token_id     INTEGER NOT NULL REFERENCES api_tokens (id),
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER,
    headers      TEXT,
    body         TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (token_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
