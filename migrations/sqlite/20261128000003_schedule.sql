-- Scheduled publishing: an article whose `published` time was in the future
-- when it was stored is held (1) until that time. A held article is in no
-- feed, page, outbox or delivery; the instance that releases it (held = 0)
-- queues its Create in the same transaction, so it goes out exactly once.
ALTER TABLE articles ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
CREATE INDEX articles_held ON articles (held, published);
