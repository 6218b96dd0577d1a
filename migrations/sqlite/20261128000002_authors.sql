-- The bylines of each article, for the author feeds and pages
-- (/authors/{key}): `author_key` is the byline's URL segment
-- (`AuthorKey::of`), `name` the byline as written. An article without a byline
-- has one row with an empty key: it is by the channel's author. Rows of
-- articles stored before this table existed are added by herald at start.
CREATE TABLE article_authors (
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    author_key TEXT NOT NULL,
    name       TEXT NOT NULL,
    PRIMARY KEY (author_key, article_id)
);
CREATE INDEX article_authors_by_article ON article_authors (article_id);

-- The archive pages (RFC 5005) are fixed slices of all articles in
-- publication order.
CREATE INDEX articles_by_date ON articles (published, id);
