"""Fixed costs before and after: an idle `file_events_sensor` tick, a one-file `upload_files` run
and a one-file processing run, measured on this tree and on an earlier commit, in the same run
against the same stack.

    .venv/bin/python -m benchmarks.fixed_costs [--before a965e55] [--repeat 7]

The earlier commit is checked out into a temporary git worktree and measured by a child process
that imports it instead of this tree; the current tree is measured the same way. Each side gets
fresh databases, a bucket and topics, set up outside the timing (migrations, bucket, topics).
Ticks and runs are evaluated in process (`build_sensor_context`, `execute_in_process`), as the
daemon's code server and run worker would, including resource initialisation, so what the old
code did on those paths (migrations on every resource init, topic creation on every tick) is in
its numbers. Ticks run with FILE_EVENTS_WAIT_SECONDS=0: this measures a tick's work, not its wait
for new events. Prints medians; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = "postgresql://postgres:postgres@localhost:5432/postgres"


def fresh_environment(label: str, root: Path) -> dict[str, str]:
    """Databases, bucket, topics and DAGSTER_HOME of their own, as environment variables. The
    instance config is the measured tree's own (`root`): an older tree may not accept a newer
    `dagster.yaml`."""
    import psycopg
    from psycopg import sql

    tag = f"{label}_{uuid.uuid4().hex[:8]}"
    databases = [f"fp_{tag}", f"fp_{tag}_dagster"]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        for name in databases:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    home = Path(tempfile.mkdtemp(prefix=f"fp-{label}-"))
    (home / "dagster.yaml").write_text((root / "dagster_home" / "dagster.yaml").read_text())
    dashed = tag.replace("_", "-")
    return {
        "DATABASE_URL": ADMIN_URL.rsplit("/", 1)[0] + f"/{databases[0]}",
        # The child points DAGSTER_PG_URL at this database as its own tree's default would
        # (directly, or through the stack's PgBouncer since it has one).
        "DAGSTER_PG_URL": ADMIN_URL.rsplit("/", 1)[0] + f"/{databases[1]}",
        "FIXED_COSTS_DAGSTER_DATABASE": databases[1],
        "S3_BUCKET": f"fp-{dashed}",
        "FILE_EVENTS_TOPIC": f"file-events-{dashed}",
        "FILE_NOTIFICATIONS_TOPIC": f"file-notifications-{dashed}",
        "DAGSTER_HOME": str(home),
        "FILE_EVENTS_WAIT_SECONDS": "0",
    }


def drop_environment(env: dict[str, str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        for url in (env["DATABASE_URL"], env["DAGSTER_PG_URL"]):
            name = url.rsplit("/", 1)[1]
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def measure(repeat: int) -> dict[str, Any]:
    """Runs in the child, with `file_pipeline` imported from the tree being measured."""
    from file_pipeline import settings

    default_base = settings.DAGSTER_PG_URL.default.rsplit("/", 1)[0]
    os.environ["DAGSTER_PG_URL"] = f"{default_base}/{os.environ['FIXED_COSTS_DAGSTER_DATABASE']}"
    import dagster as dg

    from file_pipeline.definitions import defs

    definitions = defs()
    sensor = next(s for s in definitions.sensors or [] if s.name == "file_events_sensor")
    upload_job = definitions.resolve_job_def("upload_files")
    processing_job = definitions.resolve_job_def("process_file_events")
    # Set-up, not timed, through methods both trees have.
    from file_pipeline.resources import KafkaResource, ObjectStorageResource, PostgresResource

    PostgresResource(database_url=settings.DATABASE_URL.value()).migrate()
    ObjectStorageResource(
        endpoint_url=settings.S3_ENDPOINT_URL.value(),
        aws_access_key_id=settings.AWS_ACCESS_KEY_ID.value(),
        aws_secret_access_key=settings.AWS_SECRET_ACCESS_KEY.value(),
        region_name=settings.AWS_REGION.value(),
        bucket=settings.S3_BUCKET.value(),
    ).ensure_bucket()
    KafkaResource(
        bootstrap_servers=settings.KAFKA_BOOTSTRAP_SERVERS.value(),
        file_events_topic=settings.FILE_EVENTS_TOPIC.value(),
        notifications_topic=settings.FILE_NOTIFICATIONS_TOPIC.value(),
    ).ensure_topics()
    instance = dg.DagsterInstance.get()
    cursor: str | None = None
    folder = Path(tempfile.mkdtemp(prefix="fp-fixed-"))

    def tick() -> tuple[float, Any]:
        nonlocal cursor
        started = time.perf_counter()
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, resources=definitions.resources
        ) as context:
            data = sensor.evaluate_tick(context)
        cursor = data.cursor
        return time.perf_counter() - started, data

    idle, uploads, runs = [], [], []
    tick()
    for i in range(repeat + 1):
        seconds, data = tick()
        assert not data.run_requests
        idle.append(seconds)
        path = folder / f"one-{i}.txt"
        path.write_text(f"fixed cost probe {i}")
        started = time.perf_counter()
        result = upload_job.execute_in_process(
            run_config={
                "ops": {"uploaded_files": {"config": {"paths": [str(path)], "uploaded_by": "f"}}}
            },
            instance=instance,
        )
        uploads.append(time.perf_counter() - started)
        assert result.success
        _, data = tick()
        (request,) = data.run_requests
        started = time.perf_counter()
        result = processing_job.execute_in_process(
            run_config=request.run_config, instance=instance, tags=request.tags
        )
        runs.append(time.perf_counter() - started)
        assert result.success
    # The first of each includes one-time imports and connections: leave it out.
    return {
        "idle sensor tick": statistics.median(idle[1:]),
        "upload_files run, 1 file": statistics.median(uploads[1:]),
        "processing run, 1 file": statistics.median(runs[1:]),
    }


def run_child(root: Path, repeat: int) -> dict[str, float]:
    env = fresh_environment("fixed", root)
    try:
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(repeat)],
            cwd=root,
            env={**os.environ, **env, "PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
        )
    finally:
        drop_environment(env)
    if out.returncode != 0:
        raise SystemExit(f"measuring {root} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="a965e55", help="commit to compare with")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child)))
        return

    from benchmarks.common import machine
    from file_pipeline import stack

    stack.up(echo=lambda line: None)
    worktree = Path(tempfile.mkdtemp(prefix="fp-before-")) / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(worktree), args.before],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    try:
        before = run_child(worktree, args.repeat)
        after = run_child(PROJECT_ROOT, args.repeat)
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(worktree)],
            cwd=PROJECT_ROOT,
            check=False,
        )
    print(f"machine: {machine()}")
    print(f"medians of {args.repeat}; before = {args.before}, after = this tree")
    print(f"{'':28}{'before':>9}{'after':>9}{'ratio':>8}")
    for name, old in before.items():
        new = after[name]
        print(f"{name:28}{old:8.2f}s{new:8.2f}s{old / new:7.2f}x")


if __name__ == "__main__":
    main()
