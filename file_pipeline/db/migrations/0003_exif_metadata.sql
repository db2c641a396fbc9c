-- EXIF extracted by the `exif_metadata` asset: one row per file, upserted (idempotent).
CREATE TABLE IF NOT EXISTS exif_metadata (
    file_id           VARCHAR(64) PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    width             INTEGER     NOT NULL,
    height            INTEGER     NOT NULL,
    image_format      TEXT        NOT NULL,
    camera_make       TEXT,
    camera_model      TEXT,
    taken_at          TIMESTAMP,
    orientation       SMALLINT,
    gps_latitude      DOUBLE PRECISION,
    gps_longitude     DOUBLE PRECISION,
    exif              JSONB       NOT NULL,
    source_event      TEXT        NOT NULL,
    processing_run_id TEXT,
    extracted_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS exif_camera_idx ON exif_metadata (camera_make, camera_model);

-- Per-file processing outcomes, so `what happened to this file` has one answer.
CREATE TABLE IF NOT EXISTS processing_results (
    file_id           VARCHAR(64) NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    step              TEXT        NOT NULL,
    outcome           TEXT        NOT NULL CHECK (outcome IN ('done', 'skipped', 'failed')),
    detail            TEXT,
    source_event      TEXT        NOT NULL,
    processing_run_id TEXT,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (file_id, step)
);
