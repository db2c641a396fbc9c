-- Processing outputs: virus scan verdicts, thumbnails, the search index and notifications.
ALTER TABLE files ADD COLUMN IF NOT EXISTS scanned_at TIMESTAMPTZ;
ALTER TABLE files ADD COLUMN IF NOT EXISTS scan_signature TEXT;
ALTER TABLE files ADD COLUMN IF NOT EXISTS scan_engine TEXT;
ALTER TABLE files ADD COLUMN IF NOT EXISTS processed_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS files_status_idx ON files (status);

ALTER TABLE processing_results ADD COLUMN IF NOT EXISTS attempts INTEGER NOT NULL DEFAULT 1;

CREATE TABLE IF NOT EXISTS thumbnails (
    file_id      VARCHAR(64) NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    rendition    TEXT        NOT NULL,
    s3_key       TEXT        NOT NULL,
    content_type TEXT        NOT NULL,
    width        INTEGER     NOT NULL,
    height       INTEGER     NOT NULL,
    byte_size    INTEGER     NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (file_id, rendition)
);

CREATE TABLE IF NOT EXISTS search_index (
    file_id      VARCHAR(64) PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    filename     TEXT        NOT NULL,
    uploaded_by  TEXT        NOT NULL,
    content_type TEXT,
    body         TEXT        NOT NULL DEFAULT '',
    document     TSVECTOR GENERATED ALWAYS AS (
        setweight(to_tsvector('english', filename), 'A')
        || setweight(to_tsvector('english', body), 'B')
    ) STORED,
    indexed_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS search_index_document_idx ON search_index USING GIN (document);
CREATE INDEX IF NOT EXISTS search_index_user_idx ON search_index (uploaded_by);

CREATE TABLE IF NOT EXISTS notifications (
    id           BIGSERIAL   PRIMARY KEY,
    file_id      VARCHAR(64) NOT NULL,
    source_event TEXT        NOT NULL,
    kind         TEXT        NOT NULL CHECK (kind IN ('processed', 'failed', 'infected', 'deleted')),
    recipient    TEXT        NOT NULL,
    message      TEXT        NOT NULL,
    payload      TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ,
    UNIQUE (file_id, source_event)
);
CREATE INDEX IF NOT EXISTS notifications_unpublished_idx ON notifications (id)
    WHERE published_at IS NULL;
