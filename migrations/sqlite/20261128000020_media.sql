-- Media files published beside the articles (images, PDFs, audio) and
-- served under /media/{path}. The bytes live in the database, not on disk,
-- so that every instance sharing it serves the same files. `path` is the
-- file's path relative to the content directory (`img/carte.jpg`);
-- `sha256` (hex) is its ETag and the `?v=` of its URLs; `width` and
-- `height` are set for images only. A publish rewrites a row only when the
-- hash changed, and then moves `updated_at` (Last-Modified). `bytes` comes
-- last: SQLite reads the columns before a large value without walking its
-- overflow pages, so the metadata look-up of every request stays cheap.
CREATE TABLE media (
    path         TEXT PRIMARY KEY NOT NULL,
    content_type TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    width        INTEGER,
    height       INTEGER,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    bytes        BLOB NOT NULL
);
