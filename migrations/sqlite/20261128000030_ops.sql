-- Domains the operator blocked (`herald block add example.social`): a
-- domain covers its subdomains too (blocking example.social blocks
-- media.example.social), as Mastodon's domain blocks do. Their followers
-- are removed, their inbox POSTs refused, nothing is delivered to them and
-- their actors are not fetched. `domain` is lower case, without a port.
CREATE TABLE domain_blocks (
    domain     TEXT PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL
);
