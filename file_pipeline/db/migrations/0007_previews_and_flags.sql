-- On the file's row, for listings: the ThumbHash placeholder of its picture (written with its
-- thumbnails, cleared with them) and how many of each kind of sensitive data its text holds
-- (written with its search document; NULL: no text was scanned, {}: scanned, nothing found).
ALTER TABLE files ADD COLUMN IF NOT EXISTS thumbhash TEXT;
ALTER TABLE files ADD COLUMN IF NOT EXISTS sensitive_data JSONB;
CREATE INDEX IF NOT EXISTS files_sensitive_data_idx ON files USING GIN (sensitive_data);
