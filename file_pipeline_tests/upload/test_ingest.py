"""Ingest on the real services: content facts, deduplication, hostile names and inputs, and
failures of each service at the worst moment."""

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import psycopg
import pytest

from file_pipeline import stack
from file_pipeline.analytics.reconciliation import reconcile
from file_pipeline.db import files as file_rows
from file_pipeline.errors import InvalidUploadError, ObjectStoreError
from file_pipeline.upload.ingest import ingest_files
from file_pipeline.upload.local_files import expand_paths
from file_pipeline_tests.helpers import events_for

pytestmark = pytest.mark.stack

LOG = logging.getLogger(__name__)
SQL = "'; DROP TABLE files; -- \" \\ %s $1"


def _ingest(storage, postgres, kafka, paths, user="ingest", description=None, **kwargs):
    return ingest_files(
        storage,
        postgres,
        paths,
        uploaded_by=user,
        description=description,
        topic=kafka.file_events_topic,
        run_id=None,
        log=LOG,
        **kwargs,
    )


def _row_count(postgres, where: str, params: tuple) -> int:
    with postgres.connection() as conn:
        return conn.execute(f"SELECT count(*) FROM files WHERE {where}", params).fetchone()[0]


def test_identical_bytes_by_the_same_user_return_the_existing_file(
    storage, postgres, kafka, tmp_path
) -> None:
    a = tmp_path / "a.txt"
    a.write_text("same bytes")
    b = tmp_path / "copy-of-a.txt"
    b.write_text("same bytes")
    first = _ingest(storage, postgres, kafka, [a], user="dedup")
    again = _ingest(storage, postgres, kafka, [a, b], user="dedup")
    assert len(first.stored) == 1 and again.stored == []
    assert [(e.path, e.file.id) for e in again.existing] == [
        (str(a), first.stored[0].id),
        (str(b), first.stored[0].id),
    ], "both paths resolve to the stored file: none is dropped unseen"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for name in ("one.txt", "two.txt"):
        (fresh / name).write_text("identical within one batch")
    batch = _ingest(storage, postgres, kafka, sorted(fresh.iterdir()), user="dedup")
    assert [m.filename for m in batch.stored] == ["one.txt"]
    assert [(e.path, e.file.id) for e in batch.existing] == [
        (str(fresh / "two.txt"), batch.stored[0].id)
    ]
    other_user = _ingest(storage, postgres, kafka, [b], user="dedup-other")
    assert len(other_user.stored) == 1, "another user's identical file is their own file"
    assert _row_count(postgres, "uploaded_by = 'dedup'", ()) == 2
    assert len(storage.list_keys("uploads/dedup/")) == 2


def test_empty_file_is_stored_as_an_empty_object(storage, postgres, kafka, tmp_path) -> None:
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    (meta,) = _ingest(storage, postgres, kafka, [empty]).stored
    assert meta.file_size == 0 and meta.content_type == "application/octet-stream"
    assert meta.sha256 == hashlib.sha256(b"").hexdigest()
    assert storage.get_bytes(meta.s3_key) == b""


def test_spoofed_extension_gets_the_type_of_its_bytes(storage, postgres, kafka, tmp_path) -> None:
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(b"MZ\x90\x00" + os.urandom(512))
    (meta,) = _ingest(storage, postgres, kafka, [fake]).stored
    assert meta.content_type == "application/x-msdownload"


@pytest.mark.parametrize(
    "name",
    [
        "line\nbreak.txt",
        "bell\x07\x1b[31mred.txt",
        "invoice\u202egpj.exe",
        "..dots..txt",
        "ü" * 125 + ".txt",  # 254 bytes: Linux's NAME_MAX is 255, the key keeps <= 200
    ],
)
def test_hostile_names_are_kept_verbatim_in_the_row_and_sanitised_in_the_key(
    storage, postgres, kafka, tmp_path, name
) -> None:
    path = tmp_path / name
    path.write_bytes(name.encode())
    (meta,) = _ingest(storage, postgres, kafka, [path]).stored
    with postgres.connection() as conn:
        row = file_rows.get_file(conn, meta.id)
    assert row["filename"] == name
    key_name = row["s3_key"].split("/")[-1]
    assert row["s3_key"].startswith(f"uploads/ingest/{meta.id}/")
    assert row["s3_key"].count("/") == 3
    assert all(ch.isprintable() and ch not in "/\\" for ch in key_name)
    assert len(key_name.encode()) <= 200
    assert storage.get_bytes(row["s3_key"]) == name.encode()


def test_sql_metacharacters_in_every_text_field_are_stored_verbatim(
    storage, postgres, kafka, tmp_path
) -> None:
    name = "x'; DROP TABLE files; --.txt"
    path = tmp_path / name
    path.write_text(SQL)
    (meta,) = _ingest(storage, postgres, kafka, [path], user=SQL, description=SQL).stored
    with postgres.connection() as conn:
        row = file_rows.get_file(conn, meta.id)
        payload = conn.execute(
            "SELECT payload FROM outbox WHERE file_id = %s", (meta.id,)
        ).fetchone()[0]
        tables = conn.execute("SELECT to_regclass('files') IS NOT NULL").fetchone()[0]
    assert (row["filename"], row["uploaded_by"], row["description"]) == (name, SQL, SQL)
    assert json.loads(payload)["fileMetadata"]["uploadedBy"] == SQL
    assert tables, "the files table is still there"


@pytest.mark.parametrize(
    ("user", "description", "message"),
    [
        ("", None, "uploaded_by must not be empty"),
        ("a\nb", None, "control characters"),
        ("x" * 129, None, "longer than 128"),
        ("ok", "d\x00", "NUL"),
        ("ok", "d" * 4001, "longer than 4000"),
    ],
)
def test_bad_uploader_fields_are_refused_before_anything_is_written(
    storage, postgres, kafka, tmp_path, user, description, message
) -> None:
    path = tmp_path / "f.txt"
    path.write_text(f"{user!r}{description!r}")
    with pytest.raises(InvalidUploadError, match=message):
        _ingest(storage, postgres, kafka, [path], user=user, description=description)


def test_special_files_and_unreadable_files_are_reported_not_uploaded(tmp_path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="fp-unreadable-"))
    try:
        folder.chmod(0o755)
        (folder / "ok.txt").write_text("ok")
        secret = folder / "secret.txt"
        secret.write_text("secret")
        secret.chmod(0o000)
        os.mkfifo(folder / "pipe")
        (folder / "dangling").symlink_to(folder / "nowhere")
        # As root every file is readable: drop to `nobody` (after the imports, since the
        # interpreter may live under /root) and list the folder as that user.
        script = textwrap.dedent(
            f"""
            import json, os
            from file_pipeline.upload.local_files import expand_paths
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            files, rejected = expand_paths([{str(folder)!r}])
            print(json.dumps([[f.name for f in files], [[r.path, r.reason] for r in rejected]]))
            """
        )
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        names, rejected = json.loads(proc.stdout)
        assert names == ["ok.txt"]
        reasons = {Path(path).name: reason for path, reason in rejected}
        assert reasons["secret.txt"] == "permission denied: file is not readable"
        assert reasons["pipe"] == "not a regular file"
        assert reasons["dangling"] == "not a regular file"
    finally:
        secret.chmod(0o600)
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    assert expand_paths([str(tmp_path / "does-not-exist")])[1][0].reason == "path does not exist"


def test_one_gib_file_streams_with_bounded_memory(storage, postgres, kafka, tmp_path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        block = os.urandom(1024 * 1024)
        for i in range(1024):
            fh.write(block[:-8] + i.to_bytes(8, "big"))
    script = textwrap.dedent(
        f"""
        import json, logging
        from pathlib import Path
        from file_pipeline.upload.ingest import ingest_files
        from file_pipeline.cli.runtime import open_resources
        with open_resources() as res:
            storage, postgres, kafka = res.storage, res.postgres, res.kafka
        result = ingest_files(storage, postgres, [Path({str(big)!r})], uploaded_by="big",
            description=None, topic=kafka.file_events_topic, run_id=None,
            log=logging.getLogger())
        # VmHWM is this process's own peak; ru_maxrss would include the forking parent's.
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print(json.dumps({{"key": result.stored[0].s3_key, "sha256": result.stored[0].sha256,
            "maxrss_mb": int(status["VmHWM"].split()[0]) / 1024}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["maxrss_mb"] < 300, f"peak RSS {out['maxrss_mb']:.0f} MB"
    head = storage.get_client().head_object(Bucket=storage.bucket, Key=out["key"])
    assert head["ContentLength"] == 1024 * 1024 * 1024
    digest = hashlib.sha256()
    with big.open("rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            digest.update(chunk)
    assert out["sha256"] == digest.hexdigest()
    assert "-" in head["ETag"], "uploaded as multipart"


def test_minio_stopped_fails_naming_the_object_store_with_no_row_or_event(
    storage, postgres, kafka, tmp_path
) -> None:
    path = tmp_path / "while-minio-is-down.txt"
    path.write_text("never stored")
    stack.down(["minio"], echo=lambda line: None)
    try:
        with pytest.raises(ObjectStoreError, match="object store put failed .*Could not connect"):
            _ingest(storage, postgres, kafka, [path], user="no-minio")
    finally:
        stack.up(["minio"], echo=lambda line: None)
    assert _row_count(postgres, "uploaded_by = 'no-minio'", ()) == 0
    with postgres.connection() as conn:
        assert (
            conn.execute("SELECT count(*) FROM outbox WHERE payload LIKE '%no-minio%'").fetchone()[
                0
            ]
            == 0
        )
    assert storage.list_keys("uploads/no-minio/") == []


def test_postgres_stopped_after_the_blob_write_leaves_no_row_no_event_no_blob(
    storage, postgres, kafka, tmp_path
) -> None:
    path = tmp_path / "while-postgres-dies.txt"
    path.write_text("blob written, then the database goes away")

    def stop_postgres_after_upload(done: int, total: int) -> None:
        if done == total:
            stack.down(["postgres"], echo=lambda line: None)

    try:
        with pytest.raises(psycopg.OperationalError):
            _ingest(
                storage,
                postgres,
                kafka,
                [path],
                user="no-postgres",
                on_progress=stop_postgres_after_upload,
            )
    finally:
        stack.up(["postgres"], echo=lambda line: None)
    assert _row_count(postgres, "uploaded_by = 'no-postgres'", ()) == 0
    assert storage.list_keys("uploads/no-postgres/") == [], "the failed batch removed its blob"


def test_crash_between_blob_and_row_leaves_an_orphan_that_reconciliation_removes(
    storage, postgres, kafka, tmp_path
) -> None:
    path = tmp_path / "crash.txt"
    path.write_text("the process dies after the blob write")
    script = textwrap.dedent(
        f"""
        import logging, os
        from pathlib import Path
        from file_pipeline.upload.ingest import ingest_files
        from file_pipeline.cli.runtime import open_resources
        with open_resources() as res:
            storage, postgres, kafka = res.storage, res.postgres, res.kafka
        def crash(done, total):
            if done == total:
                os._exit(9)  # killed between the blob write and the transaction
        ingest_files(storage, postgres, [Path({str(path)!r})], uploaded_by="crash",
            description=None, topic=kafka.file_events_topic, run_id=None,
            log=logging.getLogger(), on_progress=crash)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    (orphan,) = storage.list_keys("uploads/crash/")
    assert _row_count(postgres, "uploaded_by = 'crash'", ()) == 0

    within_grace = reconcile(storage, postgres, grace_seconds=3600, log=LOG)
    assert orphan in within_grace.orphans_in_grace and storage.exists(orphan)
    swept = reconcile(storage, postgres, grace_seconds=0, log=LOG)
    assert orphan in swept.orphans
    assert not storage.exists(orphan)
    assert events_for(kafka, [orphan.split("/")[2]]) == {}
