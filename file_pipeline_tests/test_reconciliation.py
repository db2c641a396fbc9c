"""Reconciliation through its Dagster job, on the real bucket and table."""

import pytest

from file_pipeline.db import queries

pytestmark = pytest.mark.stack


def _run(definitions, instance, grace_seconds: int, dry_run: bool = False):  # noqa: ANN001, ANN202
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
    ghost = FileMetadata(
        id="00000000-0000-0000-0000-00000000beef",
        filename="ghost.txt",
        s3_key="uploads/recon/00000000-0000-0000-0000-00000000beef/ghost.txt",
        s3_url="http://localhost:9000/x",
        file_size=1,
        uploaded_by="recon",
        uploaded_at=1,
    )
    with postgres.connection() as conn, conn.transaction():
        queries.insert_file_with_event(
            conn, ghost, new_event(EventType.UPLOADED, ghost, 1), "t", None
        )

    young = _run(definitions, instance, grace_seconds=3600)
    assert storage.exists(orphan), "inside the grace period an orphan may be an upload in flight"
    assert young["orphans_in_grace"] >= 1

    report = _run(definitions, instance, grace_seconds=0, dry_run=True)
    assert orphan in report["orphan_keys"] and storage.exists(orphan), "dry run removes nothing"

    report = _run(definitions, instance, grace_seconds=0)
    assert orphan in report["orphan_keys"]
    assert not storage.exists(orphan)
    assert ghost_id in report["rows_missing_blob_ids"]
    with postgres.connection() as conn:
        assert queries.get_file(conn, ghost_id)["deleted_at"] is None, "reported, not changed"
        conn.execute("DELETE FROM files WHERE id = %s", (ghost_id,))
