-- Each media file remembers where it came from, as articles do: `file`
-- (published from the content directory by `herald publish`) or `api`
-- (uploaded with POST /api/media). A publish replaces its own files when
-- their bytes change, never one uploaded through the API; an upload never
-- replaces anything. The column goes after `bytes`: the hot metadata
-- look-up of every /media request does not read it.
ALTER TABLE media ADD COLUMN source TEXT NOT NULL DEFAULT 'file' CHECK (source IN ('file', 'api'));
