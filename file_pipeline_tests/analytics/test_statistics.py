"""Statistics and data-health checks against a known set of uploads, in a database of their own
(real PostgreSQL, real MinIO, real Kafka), so every number can be asserted exactly."""

import logging
import uuid
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest
from click.testing import CliRunner

from file_pipeline import settings
from file_pipeline.analytics.statistics import compute_statistics
from file_pipeline.cli import main
from file_pipeline.db.migrate import apply_migrations
from file_pipeline.defs.analytics.checks import (
    blobs_match_rows,
    infected_files_quarantined,
    outbox_drained,
    uploads_processed_in_time,
)
from file_pipeline.resources import PostgresResource
from file_pipeline.upload.ingest import ingest_files
from file_pipeline_tests.helpers import read_topic

pytestmark = pytest.mark.stack

LOG = logging.getLogger(__name__)


@pytest.fixture
def known(storage, kafka, tmp_path) -> Iterator[tuple[PostgresResource, dict[str, str]]]:
    """A fresh database holding exactly: alice 3 files (10 + 20 B text, 30 B PNG), bob 1 file
    (5 B text); statuses clean, clean, infected, failed; bob's file deleted afterwards."""
    name = f"fp_stats_{uuid.uuid4().hex[:8]}"
    admin = settings.DATABASE_URL.default.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = settings.DATABASE_URL.default.rsplit("/", 1)[0] + f"/{name}"
    apply_migrations(url)
    postgres = PostgresResource(database_url=url)
    files = {
        "a1.txt": b"0123456789",
        "a2.txt": b"01234567890123456789",
        "a3.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 22,
        "b1.txt": b"bob!!",
    }
    for filename, data in files.items():
        (tmp_path / filename).write_bytes(data)
    ids: dict[str, str] = {}
    for user, names in (("alice", ["a1.txt", "a2.txt", "a3.png"]), ("bob", ["b1.txt"])):
        result = ingest_files(
            storage,
            postgres,
            [tmp_path / n for n in names],
            uploaded_by=user,
            description=None,
            topic=kafka.file_events_topic,
            run_id=None,
            log=LOG,
        )
        ids.update({m.filename: m.id for m in result.stored})
    with postgres.connection() as conn:
        for filename, status, latency in (
            ("a1.txt", "clean", 10),
            ("a2.txt", "clean", 20),
            ("a3.png", "infected", 30),
            ("b1.txt", "failed", None),
        ):
            conn.execute(
                "UPDATE files SET status = %s, created_at = now() - interval '1 hour',"
                " processed_at = CASE WHEN %s::int IS NULL THEN NULL"
                " ELSE now() - interval '1 hour' + make_interval(secs => %s) END WHERE id = %s",
                (status, latency, latency, ids[filename]),
            )
        conn.execute(
            "UPDATE files SET status = 'deleted', deleted_at = now() WHERE id = %s",
            (ids["b1.txt"],),
        )
        conn.execute("UPDATE outbox SET sent_at = now() WHERE file_id <> %s", (ids["a3.png"],))
    storage.delete(f"uploads/bob/{ids['b1.txt']}/b1.txt")  # as delete_files removes it
    try:
        yield postgres, ids
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_statistics_of_a_known_set(known, kafka) -> None:
    postgres, _ = known
    with postgres.connection() as conn:
        stats = compute_statistics(conn, kafka)
    assert (stats.files, stats.bytes, stats.users) == (3, 60, 1), "bob's file is deleted"
    assert stats.by_status == {"pending": 0, "clean": 2, "infected": 1, "failed": 0, "deleted": 1}
    assert stats.by_user.to_dict("records") == [{"uploaded_by": "alice", "files": 3, "bytes": 60}]
    assert stats.by_content_type.to_dict("records") == [
        {"content_type": "text/plain", "files": 2, "bytes": 30},
        {"content_type": "image/png", "files": 1, "bytes": 30},
    ]
    assert stats.latency_p50_seconds == pytest.approx(20.0, abs=0.01)
    assert stats.latency_p95_seconds == pytest.approx(29.0, abs=0.01)
    assert (stats.events_sent, stats.events_unsent) == (3, 1)
    assert stats.dlq_messages == len(read_topic(kafka, kafka.dead_letter_topic))
    numbers = stats.numbers()
    assert numbers["files_infected"] == 1 and numbers["latency_p50_seconds"] == 20.0


def test_file_statistics_asset_and_cli_show_the_same_numbers(
    definitions,
    instance,
    postgres,
    kafka,
) -> None:
    result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey("file_statistics")]
    )
    (mat,) = result.asset_materializations_for_node("file_statistics")
    with postgres.connection() as conn:
        stats = compute_statistics(conn, kafka)
    for key in ("files", "bytes", "users", "files_clean", "files_infected", "events_sent"):
        assert mat.metadata[key].value == stats.numbers()[key], key
    assert (
        "consumer_lag" in mat.metadata
        or not instance.fetch_observations(dg.AssetKey("file_events"), limit=1).records
    )
    by_user = mat.metadata["by_user"].value
    assert by_user.startswith("| uploaded_by")
    assert all(f"| {user}" in by_user for user in stats.by_user["uploaded_by"])
    cli = CliRunner().invoke(main, ["stats"])
    assert cli.exit_code == 0
    assert f"files stored        {stats.files}" in cli.output


def _check(check, **resources):
    """Evaluate one asset check directly, with these resources."""
    if check is blobs_match_rows:
        return check(dg.build_asset_check_context(), **resources)
    return check(**resources)


def test_checks_pass_on_healthy_data_and_fail_on_each_violation(known, storage) -> None:
    postgres, ids = known
    with postgres.connection() as conn:
        conn.execute("UPDATE outbox SET sent_at = now()")
        conn.execute(
            "UPDATE files SET s3_key = 'quarantine/' || s3_key WHERE id = %s", (ids["a3.png"],)
        )
    a3_key = f"uploads/alice/{ids['a3.png']}/a3.png"
    storage.copy(a3_key, f"quarantine/{a3_key}")
    storage.delete(a3_key)

    assert _check(outbox_drained, postgres=postgres).passed
    assert _check(uploads_processed_in_time, postgres=postgres).passed
    assert _check(infected_files_quarantined, storage=storage, postgres=postgres).passed
    healthy = _check(blobs_match_rows, storage=storage, postgres=postgres)
    assert healthy.passed and healthy.metadata["rows_missing_blob"].value == 0

    with postgres.connection() as conn:
        conn.execute(
            "UPDATE outbox SET sent_at = NULL, created_at = now() - interval '1 hour'"
            " WHERE file_id = %s",
            (ids["a1.txt"],),
        )
        conn.execute("UPDATE files SET processed_at = NULL WHERE id = %s", (ids["a2.txt"],))
        conn.execute(
            "INSERT INTO search_index (file_id, filename, uploaded_by, body)"
            " VALUES (%s, 'a3 png', 'alice', '')",
            (ids["a3.png"],),
        )
    storage.delete(f"uploads/alice/{ids['a1.txt']}/a1.txt")

    stuck = _check(outbox_drained, postgres=postgres)
    assert not stuck.passed and stuck.metadata["stuck_events"].value == 1
    late = _check(uploads_processed_in_time, postgres=postgres)
    assert not late.passed and late.metadata["late_files"].value == 1
    indexed = _check(infected_files_quarantined, storage=storage, postgres=postgres)
    assert not indexed.passed and "in the search index" in str(indexed.metadata["problems"].value)
    missing = _check(blobs_match_rows, storage=storage, postgres=postgres)
    assert not missing.passed and missing.metadata["rows_missing_blob"].value == 1


def test_check_data_health_job_runs_every_check(definitions, instance, resources) -> None:
    result = definitions.resolve_job_def("check_data_health").execute_in_process(
        instance=instance, raise_on_error=False
    )
    evaluations = {e.check_name for e in result.get_asset_check_evaluations()}
    assert evaluations == {
        "blobs_match_rows",
        "outbox_drained",
        "uploads_processed_in_time",
        "infected_files_quarantined",
        "no_events_skipped",
        "renditions_present",
        "index_present",
        "no_outputs_of_deleted_files",
        "consumer_lag_bounded",
    }
