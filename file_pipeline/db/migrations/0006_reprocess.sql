-- Reprocess requests: what an operator (the Launchpad's reprocess_files, `file-pipeline
-- reprocess`), the sweeper, the signature-update rescan or `verify --repair` asked to redo, and
-- the batches `reprocess_sensor` launches as processing runs (run key reprocess:<request>:<batch>).
CREATE TABLE IF NOT EXISTS reprocess_requests (
    id          BIGSERIAL   PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    source      TEXT        NOT NULL,
    stages      TEXT[]      NOT NULL,
    selection   TEXT        NOT NULL,
    force       BOOLEAN     NOT NULL DEFAULT false,
    files       INTEGER     NOT NULL,
    skipped     JSONB       NOT NULL DEFAULT '{}'::jsonb
);
CREATE TABLE IF NOT EXISTS reprocess_batches (
    id          BIGSERIAL   PRIMARY KEY,
    request_id  BIGINT      NOT NULL REFERENCES reprocess_requests (id) ON DELETE CASCADE,
    batch_no    INTEGER     NOT NULL,
    file_ids    TEXT[]      NOT NULL,
    UNIQUE (request_id, batch_no)
);
CREATE INDEX IF NOT EXISTS processing_results_failed_idx ON processing_results (stage)
    WHERE outcome = 'failed';
