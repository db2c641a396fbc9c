-- Per-stage outcomes are named by stage (the asset's name), record the version of the stage that
-- produced them and, for failures, the exception type; a stage done within a budget is `partial`.
ALTER TABLE processing_results RENAME COLUMN step TO stage;
ALTER TABLE processing_results ADD COLUMN IF NOT EXISTS version TEXT;
ALTER TABLE processing_results ADD COLUMN IF NOT EXISTS error_type TEXT;
ALTER TABLE processing_results DROP CONSTRAINT IF EXISTS processing_results_outcome_check;
ALTER TABLE processing_results ADD CONSTRAINT processing_results_outcome_check
    CHECK (outcome IN ('done', 'partial', 'skipped', 'failed'));
ALTER TABLE processing_results ADD CONSTRAINT processing_results_stage_check
    CHECK (stage IN ('virus_scan', 'exif_metadata', 'thumbnails', 'search_index', 'notifications'));
CREATE INDEX IF NOT EXISTS processing_results_stage_outcome_idx
    ON processing_results (stage, outcome);

-- Every output row records the version of the stage that made it.
ALTER TABLE exif_metadata ADD COLUMN IF NOT EXISTS version TEXT;
ALTER TABLE thumbnails ADD COLUMN IF NOT EXISTS version TEXT;
ALTER TABLE search_index ADD COLUMN IF NOT EXISTS version TEXT;
ALTER TABLE files ADD COLUMN IF NOT EXISTS scan_version TEXT;

-- The seed's Java client names blobs uploads/<user>/<filename>: the same user uploading another
-- file of the same name writes a new row that shares the key, as in the seed's own table.
ALTER TABLE files DROP CONSTRAINT IF EXISTS files_s3_key_key;
CREATE INDEX IF NOT EXISTS files_s3_key_idx ON files (s3_key);
-- Files not yet in a final state, for the sweeper and `status`.
CREATE INDEX IF NOT EXISTS files_unprocessed_idx ON files (created_at)
    WHERE processed_at IS NULL AND deleted_at IS NULL;
