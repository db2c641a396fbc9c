"""Reconciliation through its Dagster job, on the real bucket and table."""

import pytest

from file_pipeline.db import files as file_rows

pytestmark = pytest.mark.stack

GHOST_ID = "00000000-0000-0000-0000-00000000beef"


def _run(definitions, instance, grace_seconds: int, dry_run: bool = False):
    result = definitions.resolve_job_def("reconcile_storage").execute_in_process(
        run_config={
            "ops": {
                "storage_reconciliation": {
                    "config": {"grace_seconds": grace_seconds, "dry_run": dry_run}
                }
            }
        },
        instance=instance,
    )
    (mat,) = result.asset_materializations_for_node("storage_reconciliation")
    return {k: v.value for k, v in mat.metadata.items()}


def test_orphans_are_removed_and_rows_without_blobs_reported(
    definitions, instance, storage, postgres
) -> None:
    orphan = "uploads/recon/00000000-0000-0000-0000-00000000dead/orphan.txt"
    storage.put_bytes(orphan, b"no row points here", "text/plain")
    with postgres.connection() as conn:
        conn.execute(
            "INSERT INTO files (id, filename, s3_key, s3_url, file_size, uploaded_by, uploaded_at)"
            " VALUES (%s, 'ghost.txt', %s, 'http://localhost:9000/x', 1, 'recon', 1)",
            (GHOST_ID, f"uploads/recon/{GHOST_ID}/ghost.txt"),
        )
    try:
        young = _run(definitions, instance, grace_seconds=3600)
        assert storage.exists(orphan), "inside the grace period an orphan may be an upload"
        assert young["orphans_in_grace"] >= 1

        report = _run(definitions, instance, grace_seconds=0, dry_run=True)
        assert orphan in report["orphan_keys"] and storage.exists(orphan), "dry run removes nothing"
        assert report["dry_run"] is True

        report = _run(definitions, instance, grace_seconds=0)
        assert orphan in report["orphan_keys"]
        assert not storage.exists(orphan)
        assert GHOST_ID in report["rows_missing_blob_ids"]
        with postgres.connection() as conn:
            assert file_rows.get_file(conn, GHOST_ID)["deleted_at"] is None, "reported, not changed"
    finally:
        with postgres.connection() as conn:
            conn.execute("DELETE FROM files WHERE id = %s", (GHOST_ID,))
