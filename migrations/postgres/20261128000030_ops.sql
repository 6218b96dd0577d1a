-- Blocked domains: see migrations/sqlite/20261128000030_ops.sql.
CREATE TABLE domain_blocks (
    domain     TEXT PRIMARY KEY NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
