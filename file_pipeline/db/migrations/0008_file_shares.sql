-- Shares: who a file was shared with, by its owner (`file-pipeline files share`). Each new share
-- is announced by a SHARED event through the outbox, in the same transaction.
CREATE TABLE IF NOT EXISTS file_shares (
    file_id      VARCHAR(64) NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    shared_with  TEXT        NOT NULL,
    event_id     UUID        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (file_id, shared_with)
);
