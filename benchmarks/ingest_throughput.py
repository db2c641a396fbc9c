"""Bulk ingest throughput: the upload path against a raw baseline doing the same work with the
same client libraries in one process (target: >= 0.8x the baseline, 2,000 files of 64 KiB).

    .venv/bin/python benchmarks/ingest_throughput.py [--files 2000] [--size-kib 64]

Runs against the local stack in an isolated database, bucket and topic. Prints numbers; asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from confluent_kafka import Producer

from benchmarks.common import isolated_environment, machine, peak_rss_mb
from file_pipeline.cli.runtime import get_instance, open_resources, run_upload
from file_pipeline.resources import KafkaResource, ObjectStorageResource, PostgresResource
from file_pipeline.upload.ingest import ingest_files
from file_pipeline.upload.outbox import relay_outbox

LOG = logging.getLogger("benchmark")


def raw_baseline(
    files: list[Path],
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    kafka: KafkaResource,
) -> float:
    """put_object with 4 threads, one INSERT transaction, produce + flush: no hashing, no type
    detection, no dedup, no outbox."""
    started = time.perf_counter()
    client = storage.get_client()
    items = [(str(uuid.uuid4()), path) for path in files]

    def put(item: tuple[str, Path]) -> None:
        file_id, path = item
        client.put_object(
            Bucket=storage.bucket, Key=f"raw/{file_id}/{path.name}", Body=path.read_bytes()
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(put, items))
    with psycopg.connect(postgres.database_url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO files (id, filename, s3_key, s3_url, file_size, uploaded_by, uploaded_at)"
            " VALUES (%s, %s, %s, 'u', %s, 'raw', 0)",
            [(i, p.name, f"raw/{i}/{p.name}", p.stat().st_size) for i, p in items],
        )
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers, "acks": "all"})
    for file_id, path in items:
        producer.produce(kafka.file_events_topic, key=file_id, value=json.dumps({"n": path.name}))
        producer.poll(0)
    assert producer.flush(60) == 0
    return time.perf_counter() - started


def pipeline(
    files: list[Path],
    storage: ObjectStorageResource,
    postgres: PostgresResource,
    kafka: KafkaResource,
    user: str,
) -> float:
    """The product's path without Dagster: ingest (hash, sniff, dedup, blob, rows + outbox),
    then the outbox relay."""
    started = time.perf_counter()
    result = ingest_files(
        storage,
        postgres,
        files,
        uploaded_by=user,
        description=None,
        topic=kafka.file_events_topic,
        run_id=None,
        log=LOG,
    )
    relayed = relay_outbox(postgres, kafka, LOG)
    assert len(result.stored) == len(files) and relayed.pending == 0
    return time.perf_counter() - started


def upload_job(folder: Path, user: str) -> float:
    """The same through the `upload_files` job, as the CLI and the UI launch it."""
    started = time.perf_counter()
    result = run_upload([str(folder)], user, None, get_instance())
    assert result.success
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size-kib", type=int, default=64)
    args = parser.parse_args()
    with (
        isolated_environment("bench"),
        tempfile.TemporaryDirectory() as folder,
        open_resources() as resources,
    ):
        storage, postgres, kafka = resources.storage, resources.postgres, resources.kafka
        files = []
        for i in range(args.files):
            path = Path(folder) / f"file-{i:05d}.bin"
            path.write_bytes(os.urandom(args.size_kib * 1024))
            files.append(path)
        megabytes = args.files * args.size_kib / 1024
        timings = {
            "raw baseline": raw_baseline(files, storage, postgres, kafka),
            "ingest+relay": pipeline(files, storage, postgres, kafka, "bench-direct"),
            "upload_files job": upload_job(Path(folder), "bench-job"),
        }
    print(f"machine: {machine()}")
    print(f"files: {args.files} x {args.size_kib} KiB ({megabytes:.0f} MiB)")
    for label, seconds in timings.items():
        print(
            f"{label:<17} {seconds:7.2f} s {args.files / seconds:8.1f} files/s"
            f" {megabytes / seconds:6.1f} MiB/s"
            f"  ratio {timings['raw baseline'] / seconds:.2f}"
        )
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MiB")
    print("target: ratio >= 0.80 against the raw baseline")


if __name__ == "__main__":
    main()
