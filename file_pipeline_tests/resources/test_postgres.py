import pytest

from file_pipeline.db import files as file_rows
from file_pipeline.events.schema import EventType, FileMetadata, new_event
from file_pipeline.resources import KafkaResource, PostgresResource

pytestmark = pytest.mark.stack

SEED_COLUMNS = [
    "id",
    "filename",
    "s3_key",
    "s3_url",
    "file_size",
    "content_type",
    "uploaded_by",
    "uploaded_at",
    "description",
    "created_at",
]


def test_files_table_has_the_seed_columns_first(postgres: PostgresResource) -> None:
    with postgres.connection() as conn:
        columns = [
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'files' ORDER BY ordinal_position"
            )
        ]
    assert columns[: len(SEED_COLUMNS)] == SEED_COLUMNS
    assert {"sha256", "status", "deleted_at"} <= set(columns)


def test_row_and_outbox_round_trip_in_one_transaction(
    postgres: PostgresResource, kafka: KafkaResource
) -> None:
    meta = FileMetadata(
        id="row-round-trip",
        filename='it\'s "quoted"; DROP TABLE files; --.txt',
        s3_key="uploads/bob/row-round-trip/x.txt",
        s3_url="http://localhost:9000/files/uploads/bob/row-round-trip/x.txt",
        file_size=5,
        content_type="text/plain",
        uploaded_by="bob",
        uploaded_at=1696500000000,
        description="O'Brien's file",
        sha256="0" * 64,
    )
    event = new_event(EventType.UPLOADED, meta, 1696500000000)
    with postgres.connection() as conn:
        with conn.transaction():
            written = file_rows.insert_files_with_events(
                conn, [(meta, event)], kafka.file_events_topic, "run-1"
            )
        assert written == {meta.id}
        row = file_rows.get_file(conn, meta.id)
        outbox = conn.execute(
            "SELECT event_id::text, message_key, payload, sent_at FROM outbox WHERE file_id = %s",
            (meta.id,),
        ).fetchone()
        latest = conn.execute("SELECT id FROM files ORDER BY created_at DESC LIMIT 1").fetchone()
    assert row is not None
    assert row["filename"] == meta.filename and row["description"] == meta.description
    assert row["status"] == "pending" and row["upload_run_id"] == "run-1"
    assert outbox[0] == event.event_id and outbox[1] == meta.id
    assert outbox[2] == event.to_json() and outbox[3] is None
    assert latest is not None


def test_failed_transaction_leaves_neither_row_nor_event(
    postgres: PostgresResource, kafka: KafkaResource
) -> None:
    meta = FileMetadata(
        id="rolled-back",
        filename="a",
        s3_key="uploads/x/rolled-back/a",
        s3_url="u",
        file_size=1,
        uploaded_by="x",
        uploaded_at=1,
    )
    event = new_event(EventType.UPLOADED, meta, 1)
    with postgres.connection() as conn:
        with pytest.raises(RuntimeError), conn.transaction():
            file_rows.insert_files_with_events(conn, [(meta, event)], kafka.file_events_topic, None)
            raise RuntimeError("crash after the row, before commit")
        assert file_rows.get_file(conn, meta.id) is None
        count = conn.execute(
            "SELECT count(*) FROM outbox WHERE file_id = %s", (meta.id,)
        ).fetchone()[0]
    assert count == 0


def test_a_batch_skips_bytes_the_user_already_has_without_an_event(
    postgres: PostgresResource, kafka: KafkaResource
) -> None:
    """The rows of one batch go in one round trip; one that collides with a live file of the
    same user and bytes (a concurrent upload won) is left out, with its event."""

    def meta(file_id: str, sha: str) -> FileMetadata:
        return FileMetadata(
            id=file_id,
            filename=f"{file_id}.txt",
            s3_key=f"uploads/batch/{file_id}/{file_id}.txt",
            s3_url="u",
            file_size=1,
            uploaded_by="batch-user",
            uploaded_at=1,
            sha256=sha,
        )

    first = meta("batch-first", "1" * 64)
    with postgres.connection() as conn, conn.transaction():
        file_rows.insert_files_with_events(
            conn, [(first, new_event(EventType.UPLOADED, first, 1))], kafka.file_events_topic, None
        )
    batch = [meta("batch-a", "2" * 64), meta("batch-dup", "1" * 64), meta("batch-b", "3" * 64)]
    with postgres.connection() as conn, conn.transaction():
        written = file_rows.insert_files_with_events(
            conn,
            [(m, new_event(EventType.UPLOADED, m, 1)) for m in batch],
            kafka.file_events_topic,
            None,
        )
        events = {
            row[0]
            for row in conn.execute(
                "SELECT file_id FROM outbox WHERE file_id = ANY(%s)",
                (["batch-a", "batch-dup", "batch-b"],),
            )
        }
    assert written == {"batch-a", "batch-b"}
    assert events == {"batch-a", "batch-b"}
