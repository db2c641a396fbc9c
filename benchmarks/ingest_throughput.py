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
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import psycopg
from botocore.config import Config as BotoConfig
from confluent_kafka import Producer

from benchmarks.common import isolated_environment, machine, peak_rss_mb
from file_pipeline import settings
from file_pipeline.cli.runtime import get_instance, open_resources, run_upload
from file_pipeline.resources import KafkaResource, ObjectStorageResource, PostgresResource
from file_pipeline.upload.ingest import ingest_files
from file_pipeline.upload.outbox import relay_outbox

LOG = logging.getLogger("benchmark")


def raw_baseline(folder: Path) -> float:
    """The simplest program doing the same work, with the same client libraries and no Dagster:
    put_object with 4 threads, one INSERT transaction, produce + flush. No hashing, no type
    detection, no dedup, no outbox. Its clients are built from the environment inside the timing,
    as a program of its own would."""
    started = time.perf_counter()
    client = boto3.client(
        "s3",
        endpoint_url=settings.S3_ENDPOINT_URL.value() or None,
        aws_access_key_id=settings.AWS_ACCESS_KEY_ID.value(),
        aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY.value(),
        region_name=settings.AWS_REGION.value(),
        config=BotoConfig(s3={"addressing_style": "path"}, max_pool_connections=8),
    )
    bucket = settings.S3_BUCKET.value()
    items = [(str(uuid.uuid4()), path) for path in sorted(folder.iterdir())]

    def put(item: tuple[str, Path]) -> None:
        file_id, path = item
        client.put_object(Bucket=bucket, Key=f"raw/{file_id}/{path.name}", Body=path.read_bytes())

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(put, items))
    with psycopg.connect(settings.DATABASE_URL.value()) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO files (id, filename, s3_key, s3_url, file_size, uploaded_by, uploaded_at)"
            " VALUES (%s, %s, %s, 'u', %s, 'raw', 0)",
            [(i, p.name, f"raw/{i}/{p.name}", p.stat().st_size) for i, p in items],
        )
    producer = Producer(
        {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS.value(), "acks": "all"}
    )
    topic = settings.FILE_EVENTS_TOPIC.value()
    for file_id, path in items:
        producer.produce(topic, key=file_id, value=json.dumps({"n": path.name}))
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


def timed_process(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=Path(__file__).parents[1])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size-kib", type=int, default=64)
    parser.add_argument(
        "--raw-only", type=Path, metavar="FOLDER", help="run only the raw baseline on FOLDER"
    )
    args = parser.parse_args()
    if args.raw_only:
        raw_baseline(args.raw_only)
        return
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
            "raw baseline": raw_baseline(Path(folder)),
            "ingest+relay": pipeline(files, storage, postgres, kafka, "bench-direct"),
            "upload_files job": upload_job(Path(folder), "bench-job"),
        }
        # The same two as programs of their own, timed from spawn: Python's start and the imports
        # count for both, as they do for a user typing the command.
        raw_process = timed_process(
            [sys.executable, "-m", "benchmarks.ingest_throughput", "--raw-only", folder]
        )
        cli = str(Path(sys.executable).with_name("file-pipeline"))
        cli_process = timed_process([cli, "upload", folder, "--user", "bench-cli"])
    print(f"machine: {machine()}")
    print(f"files: {args.files} x {args.size_kib} KiB ({megabytes:.0f} MiB)")
    for label, seconds in timings.items():
        print(
            f"{label:<17} {seconds:7.2f} s {args.files / seconds:8.1f} files/s"
            f" {megabytes / seconds:6.1f} MiB/s"
            f"  ratio {timings['raw baseline'] / seconds:.2f}"
        )
    print("as processes of their own, timed from spawn:")
    print(f"  raw baseline program  {raw_process:7.2f} s  ratio 1.00")
    print(f"  file-pipeline upload  {cli_process:7.2f} s  ratio {raw_process / cli_process:.2f}")
    print(f"peak RSS of this process: {peak_rss_mb():.0f} MiB")
    print("target: ratio >= 0.80 against the raw baseline")


if __name__ == "__main__":
    main()
