-- The seed's `files` table, with the seed's columns and meanings, plus what the pipeline needs.
CREATE TABLE IF NOT EXISTS files (
    id            VARCHAR(64) PRIMARY KEY,
    filename      TEXT        NOT NULL,
    s3_key        TEXT        NOT NULL UNIQUE,
    s3_url        TEXT        NOT NULL,
    file_size     BIGINT      NOT NULL CHECK (file_size >= 0),
    content_type  TEXT,
    uploaded_by   TEXT        NOT NULL,
    uploaded_at   BIGINT      NOT NULL,
    description   TEXT,
    created_at    TIMESTAMP   NOT NULL DEFAULT CURRENT_TIMESTAMP,
    sha256        CHAR(64),
    status        TEXT        NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'clean', 'infected', 'failed', 'deleted')),
    deleted_at    TIMESTAMPTZ,
    upload_run_id TEXT,
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS files_uploaded_by_idx ON files (uploaded_by);
CREATE INDEX IF NOT EXISTS files_created_at_idx ON files (created_at DESC);
-- Identical bytes uploaded again by the same user resolve to the existing live file.
CREATE UNIQUE INDEX IF NOT EXISTS files_user_sha256_live_idx ON files (uploaded_by, sha256)
    WHERE deleted_at IS NULL;
