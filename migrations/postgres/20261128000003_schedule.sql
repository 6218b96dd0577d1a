-- Scheduled publishing: see migrations/sqlite/20261128000003_schedule.sql.
ALTER TABLE articles ADD COLUMN held BIGINT NOT NULL DEFAULT 0;
CREATE INDEX articles_held ON articles (held, published);
