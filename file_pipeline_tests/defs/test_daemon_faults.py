"""Faults through the real machinery: `dagster-daemon` killed in the middle of a sensor tick, a
processing run's process killed in the middle of a batch, the Kafka broker frozen for longer than
a tick may take. Each test uses its own environment and its own daemon."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from file_pipeline.analytics.verify import check_consumer_lag, consumer_lag, sensor_cursor
from file_pipeline.defs.analytics.checks import consumer_lag_bounded
from file_pipeline.events.cursor import SensorCursor
from file_pipeline.processing.thumbnails import DEFAULT_RENDITIONS
from file_pipeline.stack import process
from file_pipeline_tests.helpers import noise_photos, run_upload, uploaded_ids
from file_pipeline_tests.services import (
    DaemonEnvironment,
    daemon_environment,
    processing_runs,
    wait_for,
)

pytestmark = pytest.mark.stack


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DaemonEnvironment]:
    with daemon_environment("faults", tmp_path / "daemon") as environment:
        yield environment


def _files(folder: Path, count: int, prefix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"{prefix}-{i:04d}.txt").write_text(f"{prefix} file {i} {time.time()}")
    return folder


def _notifications_per_file(env: DaemonEnvironment, ids: list[str]) -> Counter[str]:
    with env.resources.postgres.connection() as conn:
        rows = conn.execute(
            "SELECT file_id FROM notifications WHERE file_id = ANY(%s)", (ids,)
        ).fetchall()
    return Counter(row[0] for row in rows)


def _scans_done_per_file(env: DaemonEnvironment) -> Counter[str]:
    """How many times each file was scanned `done` across every materialization of
    `virus_scan` (a file processed twice would count twice)."""
    done: Counter[str] = Counter()
    records = env.instance.fetch_materializations(dg.AssetKey("virus_scan"), limit=1000).records
    for record in records:
        table = record.asset_materialization.metadata["outcomes"].value
        for row in table.records:
            if row.data["outcome"] == "done":
                done[row.data["file_id"]] += 1
    return done


def test_daemon_killed_in_the_middle_of_a_tick_launches_each_batch_once(
    env: DaemonEnvironment, tmp_path: Path
) -> None:
    wait_for(lambda: env.ticks(limit=1), 120, "the sensor's first tick")
    upload = run_upload(
        env.definitions, env.instance, [_files(tmp_path / "burst", 1500, "burst")], "crash"
    )
    ids = uploaded_ids(upload)
    # Catch a tick while it runs: the daemon dies between evaluating the sensor and recording
    # what it launched (or while launching).
    started_tick = wait_for(
        lambda: next((t for t in env.ticks(limit=1) if t.status.value == "STARTED"), None),
        60,
        "a tick in progress",
        interval=0.01,
    )
    env.daemon.kill(signal.SIGKILL)
    env.daemon.start()
    env.wait_until_processed(ids, timeout=300)
    runs = env.finished_processing_runs()

    keys = [
        run.tags.get("dagster/run_key") for run in runs if not run.tags.get("dagster/parent_run_id")
    ]
    assert len(keys) == len(set(keys)), "no batch was launched twice"
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
    assert set(_notifications_per_file(env, ids).values()) == {1}, "one notification each"
    scanned = _scans_done_per_file(env)
    assert {scanned[file_id] for file_id in ids} == {1}, "every file scanned exactly once"
    assert started_tick.tick_id is not None


def test_a_run_killed_in_the_middle_of_a_batch_is_retried_to_one_set_of_outputs(
    env: DaemonEnvironment, tmp_path: Path
) -> None:
    photos = noise_photos(tmp_path / "photos", 40)
    upload = run_upload(env.definitions, env.instance, [photos], "kill")
    ids = uploaded_ids(upload)
    run = wait_for(
        lambda: next(iter(processing_runs(env.instance)), None), 120, "the processing run"
    )
    pid = wait_for(lambda: _run_worker_pid(env.instance, run.run_id), 120, "the run's process")
    # Some files are done, the batch is not: then the run's process dies.
    wait_for(lambda: env.processed(ids) or _stage_started(env, run.run_id), 120, "work started")
    os.kill(pid, signal.SIGKILL)

    env.wait_until_processed(ids, timeout=300)
    runs = env.finished_processing_runs()
    killed = env.instance.get_run_by_id(run.run_id)
    assert killed is not None and killed.status == dg.DagsterRunStatus.FAILURE
    retries = [r for r in runs if r.tags.get("dagster/parent_run_id") == run.run_id]
    assert retries and retries[-1].status == dg.DagsterRunStatus.SUCCESS, "Dagster retried it"
    with env.resources.postgres.connection() as conn:
        renditions = Counter(
            row[0]
            for row in conn.execute(
                "SELECT file_id FROM thumbnails WHERE file_id = ANY(%s)", (ids,)
            ).fetchall()
        )
    assert set(renditions.values()) == {len(DEFAULT_RENDITIONS)} and set(renditions) == set(ids)
    storage = env.resources.storage
    assert all(
        len(storage.list_keys(f"thumbnails/{file_id}/")) == len(DEFAULT_RENDITIONS)
        for file_id in ids
    )
    assert set(_notifications_per_file(env, ids).values()) == {1}


def test_kafka_frozen_past_the_tick_budget_fails_the_tick_and_moves_no_cursor(
    env: DaemonEnvironment, tmp_path: Path
) -> None:
    wait_for(lambda: env.ticks(limit=1), 120, "the sensor's first tick")
    env.daemon.stop()
    before = env.sensor_cursor()
    upload = run_upload(env.definitions, env.instance, [_files(tmp_path / "frozen", 20, "f")], "k")
    ids = uploaded_ids(upload)
    broker = process.read_pid("kafka")
    assert broker is not None
    os.kill(broker.pid, signal.SIGSTOP)
    try:
        env.daemon.start()
        failed = wait_for(
            lambda: next((t for t in env.ticks(limit=5) if t.status.value == "FAILURE"), None),
            120,
            "a failed tick while Kafka is frozen",
        )
        assert "Kafka unavailable" in str(failed.error), failed.error
        assert env.sensor_cursor() == before, "the cursor did not move"
    finally:
        os.kill(broker.pid, signal.SIGCONT)
    env.wait_until_processed(ids, timeout=300)
    after = SensorCursor.parse(env.sensor_cursor())
    assert after is not None and sum(after.offsets.values()) >= len(ids), "nothing skipped"
    assert set(_notifications_per_file(env, ids).values()) == {1}


def _run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process executing a run, from its engine event."""
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is not None and event.event_type_value == "ENGINE_EVENT":
            pid = event.engine_event_data.metadata.get("pid")
            if pid is not None:
                return int(pid.value)
    return None


def _stage_started(env: DaemonEnvironment, run_id: str) -> bool:
    for record in env.instance.all_logs(run_id):
        event = record.dagster_event
        if (
            event is not None
            and event.event_type_value == "STEP_START"
            and event.step_key == "derived_outputs"
        ):
            return True
    return False


def test_consumer_lag_is_read_from_the_cursor_the_daemon_stored(
    env: DaemonEnvironment, tmp_path: Path
) -> None:
    upload = run_upload(env.definitions, env.instance, [_files(tmp_path / "lag", 5, "lag")], "lag")
    env.wait_until_processed(uploaded_ids(upload), timeout=120)
    kafka = env.resources.kafka
    cursor = sensor_cursor(env.instance)
    assert cursor is not None and consumer_lag(kafka, cursor) == 0
    context = dg.build_asset_check_context(instance=env.instance)
    assert consumer_lag_bounded(context, kafka=kafka).passed

    env.daemon.stop()  # nobody reads while events keep coming
    producer = kafka.producer()
    for n in range(30):
        producer.produce(kafka.file_events_topic, key=f"k{n}".encode(), value=b"{}")
    assert producer.flush(30) == 0
    lag = consumer_lag(kafka, sensor_cursor(env.instance))
    assert lag == 30
    behind = check_consumer_lag(lag, max_lag=10, topic=kafka.file_events_topic)
    assert behind.violations and "30 events not yet read" in behind.violations[0].detail
