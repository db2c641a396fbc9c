"""Event -> processed latency with the Dagster daemon running (target: p50 <= 5 s, p95 <= 10 s),
and how many runs the sensor launched for them.

    .venv/bin/python benchmarks/processing_latency.py [--files 30] [--interval 1.0]

Uploads files one at a time (ingest + outbox relay, as an upload run does), with
`dagster-daemon` running the `file_events_sensor` and the run queue, and measures from the
moment Kafka acknowledged each event (outbox.sent_at) to the moment its notification was written
(files.processed_at). Isolated database, bucket and topic. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg

from benchmarks.common import isolated_environment, machine
from file_pipeline.cli.runtime import dagster_daemon, get_instance, open_resources
from file_pipeline.upload.ingest import ingest_files
from file_pipeline.upload.outbox import relay_outbox

LOG = logging.getLogger("benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    with (
        isolated_environment("bench"),
        tempfile.TemporaryDirectory() as folder,
        open_resources() as resources,
    ):
        storage, postgres, kafka = resources.storage, resources.postgres, resources.kafka
        log_path = Path(folder) / "daemon.log"
        with dagster_daemon(log_path):
            time.sleep(5)  # let the daemon load the code location before the first event
            ids = []
            for i in range(args.files):
                path = Path(folder) / f"latency-{i:03d}.txt"
                path.write_text(f"latency probe {i} {time.time()}")
                result = ingest_files(
                    storage,
                    postgres,
                    [path],
                    uploaded_by="latency",
                    description=None,
                    topic=kafka.file_events_topic,
                    run_id=None,
                    log=LOG,
                )
                relay_outbox(postgres, kafka, LOG)
                ids.extend(m.id for m in result.stored)
                time.sleep(args.interval)
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                with postgres.connection() as conn:
                    done = conn.execute(
                        "SELECT count(*) FROM files WHERE id = ANY(%s)"
                        " AND processed_at IS NOT NULL",
                        (ids,),
                    ).fetchone()[0]
                if done == len(ids):
                    break
                time.sleep(1)
        with postgres.connection() as conn:
            rows = conn.execute(
                "SELECT extract(epoch FROM f.processed_at - o.sent_at) FROM files f"
                " JOIN outbox o ON o.file_id = f.id WHERE f.id = ANY(%s)"
                " AND f.processed_at IS NOT NULL",
                (ids,),
            ).fetchall()
        runs = get_instance().get_runs(dg.RunsFilter(job_name="process_file_events"))
    latencies = sorted(float(r[0]) for r in rows)
    print(f"machine: {machine()}")
    print(f"files: {args.files}, one every {args.interval:.1f} s; processed: {len(latencies)}")
    if latencies:
        p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
        print(
            f"event -> processed: p50 {statistics.median(latencies):.1f} s, p95 {p95:.1f} s,"
            f" max {latencies[-1]:.1f} s (target p50 <= 5 s, p95 <= 10 s)"
        )
    print(f"processing runs launched by the sensor: {len(runs)}")


if __name__ == "__main__":
    main()
