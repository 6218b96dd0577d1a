-- Media files served under /media/{path}: see
-- migrations/sqlite/20261128000020_media.sql.
CREATE TABLE media (
    path         TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size         BIGINT NOT NULL,
    width        BIGINT,
    height       BIGINT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    bytes        BYTEA NOT NULL
);
