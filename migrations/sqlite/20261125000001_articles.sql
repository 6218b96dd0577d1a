-- Articles as published. Times are RFC 3339 UTC text of fixed width
-- (2024-08-05T08:00:00.000000Z), so they sort as text on every backend.
-- `data` is the whole article as JSON (the one model); the other columns
-- are what queries filter and sort on.
CREATE TABLE articles (
    id          TEXT PRIMARY KEY NOT NULL,
    slug        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('full', 'teaser')),
    state       TEXT NOT NULL CHECK (state IN ('published', 'retracted')),
    published   TEXT NOT NULL,
    updated     TEXT NOT NULL,
    data        TEXT NOT NULL,
    -- file the article was last published from; NULL when it came from the API
    source      TEXT,
    -- hash of the article as last submitted, to skip unchanged files
    fingerprint TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    changed_at  TEXT NOT NULL
);
CREATE INDEX articles_by_state_and_date ON articles (state, published DESC, id DESC);

CREATE TABLE article_tags (
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    tag        TEXT NOT NULL,
    PRIMARY KEY (tag, article_id)
);

-- Every revision of every article, kept for the newsroom's history.
CREATE TABLE article_revisions (
    article_id  TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    revision    INTEGER NOT NULL,
    state       TEXT NOT NULL,
    data        TEXT NOT NULL,
    source      TEXT,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (article_id, revision)
);

-- One row: bumped by every publish that changed something, so servers notice
-- publishes made by other processes with one cheap query.
CREATE TABLE site_state (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    revision   INTEGER NOT NULL,
    changed_at TEXT NOT NULL
);
INSERT INTO site_state (id, revision, changed_at) VALUES (1, 0, '1970-01-01T00:00:00.000000Z');
