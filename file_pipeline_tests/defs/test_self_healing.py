"""The pipeline heals itself, through the real daemon: files left pending by a clamd outage that
outlasted the run retries are processed once clamd is back, and new signatures rescan the files
scanned clean under the old ones."""

from __future__ import annotations

import io
from pathlib import Path

import dagster as dg
import pytest
from PIL import Image

from file_pipeline import stack
from file_pipeline.db import files as file_rows
from file_pipeline.processing.thumbnails import DEFAULT_RENDITIONS
from file_pipeline.stack.clamav import build_signature_database, shipped_database_dir
from file_pipeline_tests.helpers import run_upload, uploaded_ids
from file_pipeline_tests.services import (
    DaemonEnvironment,
    daemon_environment,
    private_clamd,
    processing_runs,
    wait_for,
)

pytestmark = pytest.mark.stack

MARKER = b"FILE-PIPELINE-TEST-MARKER-V2"


def _photo(path: Path, trailer: bytes = b"") -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue() + trailer)  # bytes after the JPEG's end are ignored


def _rows(env: DaemonEnvironment, ids: list[str]) -> dict[str, dict]:
    with env.resources.postgres.connection() as conn:
        return file_rows.get_files(conn, ids)


def _count(env: DaemonEnvironment, table: str, file_id: str) -> int:
    with env.resources.postgres.connection() as conn:
        return conn.execute(
            f"SELECT count(*) FROM {table} WHERE file_id = %s", (file_id,)
        ).fetchone()[0]


def _kinds(env: DaemonEnvironment, file_id: str) -> list[str]:
    with env.resources.postgres.connection() as conn:
        rows = conn.execute(
            "SELECT kind FROM notifications WHERE file_id = %s ORDER BY id", (file_id,)
        ).fetchall()
    return [row[0] for row in rows]


def _last_retry_failed(env: DaemonEnvironment) -> bool:
    """The event sensor's run has used up its retries (dagster/max_retries: 2)."""
    return any(
        run.tags.get("dagster/retry_number") == "2"
        and "file_pipeline/reprocess_source" not in run.tags
        and run.status == dg.DagsterRunStatus.FAILURE
        for run in processing_runs(env.instance)
    )


def test_a_clamd_outage_longer_than_the_run_retries_heals_itself(tmp_path: Path) -> None:
    extra = {"SWEEP_AFTER_SECONDS": "20"}
    with daemon_environment("heal", tmp_path / "daemon", extra) as env:
        stack.down(["clamav"], echo=lambda line: None)
        try:
            folder = tmp_path / "upload"
            folder.mkdir()
            _photo(folder / "during-outage.jpg")
            (folder / "during-outage.txt").write_text("scanned once clamd is back")
            ids = uploaded_ids(run_upload(env.definitions, env.instance, [folder], "heal"))
            # The sensor's run and both of its retries fail: clamd gives no verdict.
            wait_for(lambda: _last_retry_failed(env), 240, "the run's last retry to fail")
            assert {row["status"] for row in _rows(env, ids).values()} == {"pending"}
        finally:
            stack.up(["clamav"], echo=lambda line: None)
        env.wait_until_processed(ids, timeout=300)
        rows = _rows(env, ids)
        assert {row["status"] for row in rows.values()} == {"clean"}, "nobody acted"
        photo = next(i for i, row in rows.items() if row["filename"].endswith(".jpg"))
        assert _count(env, "thumbnails", photo) == len(DEFAULT_RENDITIONS)
        assert all(_count(env, "search_index", file_id) == 1 for file_id in ids)
        wait_for(
            lambda: any(
                run.tags.get("file_pipeline/reprocess_source") == "sweeper"
                and run.status == dg.DagsterRunStatus.SUCCESS
                for run in processing_runs(env.instance)
            ),
            120,
            "the sweeper's reprocess run to succeed: it is what healed the files",
        )


def test_new_signatures_rescan_clean_files_and_quarantine_what_they_now_detect(
    tmp_path: Path,
) -> None:
    with private_clamd(tmp_path / "clamd") as scanner:
        extra = {"CLAMAV_PORT": str(scanner.port), "SIGNATURE_CHECK_SECONDS": "5"}
        with daemon_environment("rescan", tmp_path / "daemon", extra) as env:
            folder = tmp_path / "upload"
            folder.mkdir()
            _photo(folder / "harmless-until-v2.jpg", MARKER)
            _photo(folder / "harmless.jpg")
            ids = uploaded_ids(run_upload(env.definitions, env.instance, [folder], "rescan"))
            env.wait_until_processed(ids, timeout=180)
            rows = _rows(env, ids)
            target = next(i for i, r in rows.items() if r["filename"] == "harmless-until-v2.jpg")
            other = next(i for i in ids if i != target)
            assert {row["status"] for row in rows.values()} == {"clean"}
            assert rows[target]["scan_version"].endswith("-db1")
            assert _count(env, "thumbnails", target) == len(DEFAULT_RENDITIONS)
            assert _count(env, "search_index", target) == 1
            original = rows[target]["s3_key"]

            v2 = tmp_path / "v2.ndb"
            v2.write_text(
                (shipped_database_dir() / "test-signatures.ndb").read_text().strip()
                + f"\nFilePipeline.Test.MarkerV2:0:*:{MARKER.hex()}\n"
            )
            build_signature_database([v2], 2, tmp_path / "clamd" / "db")
            assert scanner.reload() == "RELOADING"
            wait_for(lambda: "/2/" in scanner.version(), 30, "clamd to load version 2")

            wait_for(
                lambda: _rows(env, [target])[target]["status"] == "infected",
                240,
                "the rescan to find the file infected",
            )
            row = _rows(env, [target])[target]
            storage = env.resources.storage
            assert row["s3_key"] == f"quarantine/{original}"
            assert "MarkerV2" in row["scan_signature"]
            wait_for(lambda: not storage.exists(original), 60, "the original to be removed")
            assert storage.list_keys(f"thumbnails/{target}/") == []
            assert _count(env, "thumbnails", target) == 0
            assert _count(env, "search_index", target) == 0
            wait_for(lambda: _kinds(env, target) == ["processed", "infected"], 60, "the owner told")
            assert _rows(env, [other])[other]["status"] == "clean"
            assert _rows(env, [other])[other]["scan_version"].endswith("-db2"), "rescanned too"
            assert _kinds(env, other) == ["processed"], "unchanged: not notified again"
