"""`file-pipeline` commands against the real stack, through click's runner."""

import json
import re

import pytest
import requests
from click.testing import CliRunner

from file_pipeline import settings, stack
from file_pipeline.analytics.statistics import compute_statistics
from file_pipeline.cli import main
from file_pipeline.db import files as file_rows
from file_pipeline.states import FileStatus
from file_pipeline_tests.helpers import read_topic, run_upload, uploaded_ids

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_env_vars_lists_every_variable_with_its_default() -> None:
    result = CliRunner().invoke(main, ["env-vars"])
    assert result.exit_code == 0
    for var in settings.ALL_ENV_VARS:
        assert var.name in result.output and var.default in result.output


@pytest.mark.stack
def test_stack_env_and_status(pipeline_env) -> None:
    runner = CliRunner()
    env = runner.invoke(main, ["stack", "env"])
    assert env.exit_code == 0
    assert f"export FILE_EVENTS_TOPIC={pipeline_env['FILE_EVENTS_TOPIC']}" in env.output
    status = runner.invoke(main, ["stack", "status"])
    assert status.exit_code == 0, status.output
    assert status.output.count("running") == len(stack.SERVICES)


@pytest.mark.stack
def test_upload_show_url_list_delete(resources, tmp_path) -> None:
    runner = CliRunner()
    (tmp_path / "cli.txt").write_text("uploaded from the CLI")
    up = runner.invoke(main, ["upload", str(tmp_path / "cli.txt"), "--user", "cli-user"])
    assert up.exit_code == 0, up.output
    (file_id,) = UUID.findall(up.output.split("files stored")[1])

    again = runner.invoke(main, ["upload", str(tmp_path / "cli.txt"), "--user", "cli-user"])
    assert again.exit_code == 0 and "already stored" in again.output and file_id in again.output

    listing = runner.invoke(main, ["files", "list", "--user", "cli-user"])
    assert listing.exit_code == 0 and file_id in listing.output and "cli.txt" in listing.output

    show = runner.invoke(main, ["files", "show", file_id])
    assert show.exit_code == 0, show.output
    assert "blob           present" in show.output and "UPLOADED" in show.output
    assert "not processed yet" in show.output

    refused = runner.invoke(main, ["files", "url", file_id, "--expires", "60"])
    assert refused.exit_code == 1
    assert "is pending, not clean: its bytes are not handed out" in refused.output
    with resources.postgres.connection() as conn:  # the scan's verdict, as virus_scan records it
        file_rows.set_scan_verdict(
            conn, file_id, FileStatus.CLEAN, signature=None, engine="clamd", version="test"
        )
    url = runner.invoke(main, ["files", "url", file_id, "--expires", "60"])
    assert url.exit_code == 0, url.output
    assert requests.get(url.output.strip(), timeout=10).text == "uploaded from the CLI"

    deleted = runner.invoke(main, ["files", "delete", file_id])
    assert deleted.exit_code == 0 and "1 deleted" in deleted.output
    twice = runner.invoke(main, ["files", "delete", file_id])
    assert twice.exit_code == 0 and "1 already deleted" in twice.output
    assert runner.invoke(main, ["files", "url", file_id]).exit_code == 1
    missing = runner.invoke(main, ["files", "delete", "no-such-id"])
    assert missing.exit_code == 1

    stats = runner.invoke(main, ["stats"])
    assert stats.exit_code == 0 and "files stored" in stats.output


@pytest.mark.stack
def test_upload_exits_non_zero_when_a_path_fails(resources, tmp_path) -> None:
    (tmp_path / "good.txt").write_text("good")
    result = CliRunner().invoke(
        main, ["upload", str(tmp_path / "good.txt"), str(tmp_path / "missing.txt"), "--user", "u2"]
    )
    assert result.exit_code == 1
    assert "1 files stored" in result.output
    assert "missing.txt: path does not exist" in result.output


@pytest.mark.stack
def test_upload_of_nothing_fails_with_the_reason(resources, tmp_path) -> None:
    result = CliRunner().invoke(main, ["upload", str(tmp_path / "nope"), "--user", "u3"])
    assert result.exit_code == 1
    assert "path does not exist" in result.output


@pytest.mark.stack
def test_search_ranks_filename_and_text_matches(resources) -> None:
    postgres = resources.postgres
    with postgres.connection() as conn:
        for file_id, name, body in [
            ("search-a", "kafka notes.txt", "partitions and consumer groups"),
            ("search-b", "holiday.txt", "we talked about kafka once"),
        ]:
            conn.execute(
                "INSERT INTO files (id, filename, s3_key, s3_url, file_size, uploaded_by,"
                " uploaded_at, status) VALUES (%s, %s, %s, 'u', 1, 'searcher', 1, 'clean')",
                (file_id, name, f"uploads/searcher/{file_id}/{name}"),
            )
            conn.execute(
                "INSERT INTO search_index (file_id, filename, uploaded_by, body)"
                " VALUES (%s, %s, 'searcher', %s)",
                (file_id, name, body),
            )
    result = CliRunner().invoke(main, ["search", "kafka", "--user", "searcher"])
    assert result.exit_code == 0
    lines = [line for line in result.output.splitlines() if "search-" in line]
    assert [line.split()[1] for line in lines] == ["search-a", "search-b"], "filename ranks first"
    none = CliRunner().invoke(main, ["search", "zebra", "--user", "searcher"])
    assert "no matches" in none.output


@pytest.mark.stack
def test_download_and_share_are_events_that_are_counted_not_processed(
    pipeline, definitions, instance, kafka, postgres, tmp_path
) -> None:
    """`files url` and `files share` announce DOWNLOADED and SHARED through the outbox; the
    sensor counts them and requests no run; the statistics count downloads and shares."""
    (tmp_path / "shared.txt").write_text("a file to hand out")
    upload = run_upload(definitions, instance, [tmp_path / "shared.txt"], uploaded_by="owner")
    (file_id,) = uploaded_ids(upload)
    pipeline.drain()
    with postgres.connection() as conn:
        assert file_rows.get_file(conn, file_id)["status"] == "clean"
    runner = CliRunner()
    assert runner.invoke(main, ["files", "url", file_id]).exit_code == 0
    shared = runner.invoke(main, ["files", "share", file_id, "--with", "friend"])
    assert shared.exit_code == 0 and "shared with friend" in shared.output, shared.output
    again = runner.invoke(main, ["files", "share", file_id, "--with", "friend"])
    assert again.exit_code == 0 and "already shared with friend" in again.output
    assert runner.invoke(main, ["files", "share", "no-such-id", "--with", "x"]).exit_code == 1
    show = runner.invoke(main, ["files", "show", file_id])
    assert "shared with    friend" in show.output and "DOWNLOADED" in show.output

    events = [
        json.loads(m.value())
        for m in read_topic(kafka, kafka.file_events_topic)
        if json.loads(m.value())["fileMetadata"]["id"] == file_id
    ]
    assert [e["eventType"] for e in events] == ["UPLOADED", "DOWNLOADED", "SHARED"]
    assert events[2]["sharedWith"] == "friend" and "sharedWith" not in events[1]

    data = pipeline.tick()
    assert data.run_requests == [], "a download or a share reprocesses nothing"
    (observation,) = data.asset_events
    assert observation.metadata["ignored_by_type"].value == {"DOWNLOADED": 1, "SHARED": 1}
    with postgres.connection() as conn:
        stats = compute_statistics(conn, None)
    assert stats.downloads >= 1 and stats.shares >= 1
    assert stats.numbers()["shares"] == stats.shares
