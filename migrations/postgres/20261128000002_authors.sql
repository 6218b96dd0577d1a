-- The bylines of each article: see migrations/sqlite/20261128000002_authors.sql.
CREATE TABLE article_authors (
    article_id TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    author_key TEXT NOT NULL,
    name       TEXT NOT NULL,
    PRIMARY KEY (author_key, article_id)
);
CREATE INDEX article_authors_by_article ON article_authors (article_id);

CREATE INDEX articles_by_date ON articles (published, id);
