"""Event -> processed latency with the Dagster daemon running (target: p50 <= 5 s, p95 <= 10 s),
against a plain consumer loop reading the same events in the same run.

    .venv/bin/python -m benchmarks.processing_latency [--files 20] [--trickle 30]

Two arrival patterns, each a text file per upload (ingest + outbox relay, as an upload run does):
- **one at a time:** each upload waits until the previous file is processed, then a pause drawn
  from a fixed seed between 0 and 5 s, so uploads land at every phase of the daemon's sensor loop
  (Dagster starts a sensor tick at most every 5 s);
- **steady trickle:** one upload per second, whatever is in flight.

Pipeline latency runs from the moment Kafka acknowledged the event (`outbox.sent_at`) to the
file's `processed_at` (scan, search index, notification written). The baseline is the simplest
program doing that work: one process with a Kafka consumer of its own group, which for each event
downloads the blob, scans it with clamd and extracts its text; its latency runs from the same
acknowledgement to the end of that work. For each pattern it also prints the median of each part
of the pipeline's latency (sensor pickup, queue and run launch, the run), from the run records.
Isolated database, bucket and topics. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from benchmarks.common import isolated_environment, machine
from file_pipeline.cli.runtime import Resources, dagster_daemon, get_instance, open_resources
from file_pipeline.events.schema import parse_event
from file_pipeline.processing.text_extraction import extract_text
from file_pipeline.upload.ingest import ingest_files
from file_pipeline.upload.outbox import relay_outbox

LOG = logging.getLogger("benchmark")
SEED = 20261125


class PlainConsumer:
    """The baseline: a consumer loop in a thread that processes each event as it arrives."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources
        self.finished: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="plain-consumer", daemon=True)

    def __enter__(self) -> PlainConsumer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        kafka, storage = self.resources.kafka, self.resources.storage
        scanner = self.resources.clamav.scanner()
        consumer = kafka.consumer("latency-baseline", **{"auto.offset.reset": "latest"})
        consumer.subscribe([kafka.file_events_topic])
        try:
            while not self._stop.is_set():
                msg = consumer.poll(0.1)
                if msg is None or msg.error() is not None:
                    continue
                event = parse_event(msg.value())
                data = storage.get_bytes(event.file.s3_key)
                assert scanner.scan_bytes(data).clean
                extract_text(data, event.file.content_type or "text/plain", event.file.filename)
                self.finished[event.file.id] = time.time()
        finally:
            consumer.close()


def upload_one(resources: Resources, folder: Path, name: str) -> str:
    path = folder / name
    path.write_text(f"latency probe {name} {time.time()}")
    result = ingest_files(
        resources.storage,
        resources.postgres,
        [path],
        uploaded_by="latency",
        description=None,
        topic=resources.kafka.file_events_topic,
        run_id=None,
        log=LOG,
    )
    relay_outbox(resources.postgres, resources.kafka, LOG)
    return result.stored[0].id


def processed(resources: Resources, ids: list[str]) -> dict[str, tuple[float, float | None]]:
    """Per file: when Kafka acknowledged its event, and its processed_at (epoch seconds)."""
    with resources.postgres.connection() as conn:
        rows = conn.execute(
            "SELECT f.id::text, extract(epoch FROM o.sent_at), extract(epoch FROM f.processed_at)"
            " FROM files f JOIN outbox o ON o.file_id = f.id WHERE f.id = ANY(%s)",
            (ids,),
        ).fetchall()
    return {fid: (float(sent), float(done) if done else None) for fid, sent, done in rows}


def wait_until(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.1)


def measure(
    resources: Resources, folder: Path, label: str, count: int, pause: Callable[[str], None]
) -> tuple[list[float], list[float], dict[str, tuple[float, float | None]]]:
    """Upload `count` files, pausing with `pause(file_id)` after each; pipeline and baseline
    latencies in seconds."""
    ids = []
    with PlainConsumer(resources) as plain:
        time.sleep(2)  # the baseline consumer has joined its group
        for i in range(count):
            ids.append(upload_one(resources, folder, f"{label}-{i:03d}.txt"))
            pause(ids[-1])
        wait_until(lambda: all(v[1] for v in processed(resources, ids).values()), 300)
        wait_until(lambda: all(i in plain.finished for i in ids), 30)
    rows = processed(resources, ids)
    pipeline = sorted(done - sent for sent, done in rows.values() if done)
    baseline = sorted(plain.finished[i] - rows[i][0] for i in ids if i in plain.finished)
    return pipeline, baseline, rows


def breakdown(
    rows: dict[str, tuple[float, float | None]], records: list[dg.RunRecord]
) -> dict[str, float]:
    """Median of each part of a file's latency, from the run that processed it (the first one
    requested after its acknowledgement): sensor pickup (ack to the run's creation), queue and
    launch (creation to the run's start, its process loaded), and the run itself (start to
    processed_at)."""
    parts: dict[str, list[float]] = {"sensor pickup": [], "queue and launch": [], "run": []}
    for sent, done in rows.values():
        if done is None:
            continue
        candidates = [
            r for r in records if sent <= r.create_timestamp.timestamp() <= done and r.start_time
        ]
        if not candidates:
            continue
        record = min(candidates, key=lambda r: r.create_timestamp.timestamp())
        created, started = record.create_timestamp.timestamp(), record.start_time or 0.0
        parts["sensor pickup"].append(created - sent)
        parts["queue and launch"].append(started - created)
        parts["run"].append(done - started)
    return {name: statistics.median(values) for name, values in parts.items() if values}


def summary(latencies: list[float]) -> str:
    if not latencies:
        return "nothing processed"
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return (
        f"p50 {statistics.median(latencies):5.2f} s  p95 {p95:5.2f} s  max {latencies[-1]:5.2f} s"
        f"  ({len(latencies)} files)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20, help="uploads one at a time")
    parser.add_argument("--trickle", type=int, default=30, help="uploads one per second")
    args = parser.parse_args()
    rng = random.Random(SEED)
    with (
        isolated_environment("bench"),
        tempfile.TemporaryDirectory() as folder,
        open_resources() as resources,
    ):
        with dagster_daemon(Path(folder) / "daemon.log"):
            time.sleep(8)  # the daemon loads the code location and ticks once

            def after_processed(file_id: str) -> None:
                wait_until(lambda: bool(processed(resources, [file_id])[file_id][1]), 60)
                time.sleep(rng.uniform(0, 5))

            results = {
                "one at a time": measure(
                    resources, Path(folder), "single", args.files, after_processed
                ),
                "steady trickle, 1/s": measure(
                    resources, Path(folder), "trickle", args.trickle, lambda _: time.sleep(1.0)
                ),
            }
        records = list(
            get_instance().get_run_records(dg.RunsFilter(job_name="process_file_events"))
        )
    print(f"machine: {machine()}")
    for label, (pipeline, baseline, rows) in results.items():
        print(f"{label}:")
        print(f"  pipeline (daemon)     {summary(pipeline)}")
        print(f"  plain consumer loop   {summary(baseline)}")
        parts = ", ".join(
            f"{name} {value:.2f} s" for name, value in breakdown(rows, records).items()
        )
        print(f"  pipeline medians: {parts}")
    print(f"processing runs launched by the sensor: {len(records)}")
    print("target: pipeline p50 <= 5 s, p95 <= 10 s")


if __name__ == "__main__":
    main()
