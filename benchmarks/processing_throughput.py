"""Processing throughput of camera-sized photos, end to end with the Dagster daemon, against a
plain single-process loop doing the same per-file work on the same blobs, in the same run.

    .venv/bin/python -m benchmarks.processing_throughput [--photos 100] [--workers 1,2] [--repeat 3]

The photos are 12-megapixel JPEGs generated from a fixed seed (cached outside the repository).
Baseline, one process, one file after another: download the blob, clamd INSTREAM scan, EXIF
read, the same renditions as the pipeline (250 px and 720 px WebP, 1440 px JPEG, decoded with
draft(); THUMBNAIL_RENDITIONS, as the pipeline reads it) and the same ThumbHash placeholder,
one put per rendition. Beside it, the same loop in two processes (each takes every other file):
not the target's baseline, but what two cores give the plain work on this host at that moment.

Pipeline: first, untimed, one photo goes through a daemon of its own, as on an instance that has
run before: its run starts the run forkserver, and the instance remembers its location, so each
measured daemon warms the forkserver up as it starts, as after any restart (that first run's
launch is printed: the cold start the measurements leave out). Then, per measurement, a new
daemon, the photos are uploaded (ingest + outbox relay, not timed), the daemon's sensor launches
the processing runs, and the clock runs from the moment the events were acknowledged to the last
file's `processed_at` (scan, EXIF, renditions, search index, notification, every row written;
checked every 0.1 s).

Rounds (`--repeat`): each round measures the plain loops, then the pipeline once per
PROCESSING_WORKERS value; one more plain loop ends the last round. Each pipeline measurement is
compared with the faster plain loop beside it (the host's speed drifts). Prints files/s, the
ratios and their median, CPU utilisation, peak RSS, CPU per photo of the loop and of the
decoding workers, where the pipeline's time went (sensor pickup, run launch, each step), and
writes a plot of the median throughput against workers (PNG). Isolated databases, bucket and
topics. Asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageFilter

from benchmarks.common import isolated_environment, machine
from file_pipeline import settings
from file_pipeline.cli.runtime import dagster_daemon, open_resources
from file_pipeline.db import files as file_rows
from file_pipeline.launcher.launcher import forkservers_of
from file_pipeline.processing.exif import exif_of
from file_pipeline.processing.images import guarded_decode, open_image
from file_pipeline.processing.scanning import ClamdScanner
from file_pipeline.processing.thumbnails import render
from file_pipeline.processing.versions import parse_renditions
from file_pipeline.stack import paths
from file_pipeline.upload.ingest import ingest_files
from file_pipeline.upload.outbox import relay_outbox

LOG = logging.getLogger("benchmark")
SEED = 20261125
WIDTH, HEIGHT = 4000, 3000


def photo_set(count: int) -> list[Path]:
    """`count` distinct 12 MP JPEGs with camera-like EXIF, made once from the seed and cached."""
    folder = paths.cache_dir() / f"bench-photos-{SEED}"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    base = Image.effect_noise((WIDTH // 8, HEIGHT // 8), 60).convert("RGB")
    base = base.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC).filter(ImageFilter.SMOOTH)
    photos = []
    for i in range(count):
        path = folder / f"camera-{i:04d}.jpg"
        tint = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if not path.exists():
            overlay = Image.new("RGB", (WIDTH, HEIGHT), tint)
            picture = Image.blend(base, overlay, 0.35)
            exif = Image.Exif()
            exif[0x010F] = "Canon"
            exif[0x0110] = f"EOS bench {i}"
            exif[0x0112] = 1
            buffer = io.BytesIO()
            picture.save(buffer, "JPEG", quality=75, exif=exif)
            path.write_bytes(buffer.getvalue())
        photos.append(path)
    return photos


@dataclass
class Measured:
    label: str
    files: int
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    phases: dict[str, float] | None = None
    """Where the pipeline's wall time went (seconds from the events' acknowledgement)."""
    processes: dict[str, float] | None = None
    """CPU seconds by kind of process during the measurement."""
    top: list[str] | None = None
    """The processes that used the most CPU during the measurement."""
    counts: dict[str, int] | None = None
    """How many processes of each kind used CPU during the measurement."""

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds


def cpu_seconds() -> float:
    """CPU time of the whole machine (all processes), from /proc/stat."""
    # user nice system idle iowait irq softirq steal (guest time is already counted in user)
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    busy = sum(int(v) for i, v in enumerate(fields) if i not in (3, 4))  # minus idle, iowait
    return busy / os.sysconf("SC_CLK_TCK")


class PlainWork:
    """The loop's per-file work, with its own S3 client and clamd connection."""

    def __init__(self, storage: object, scanner: ClamdScanner) -> None:
        self.client = storage.get_client()  # type: ignore[attr-defined]
        self.bucket = storage.bucket  # type: ignore[attr-defined]
        self.scanner = scanner
        self.specs = parse_renditions(settings.THUMBNAIL_RENDITIONS.value())  # the pipeline's

    def process(self, key: str) -> None:
        data = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        verdict = self.scanner.scan_bytes(data)
        assert verdict.clean, verdict
        with guarded_decode():
            image = open_image(data)
            exif_of(image)
            renditions = render(image, self.specs).renditions
        for rendition in renditions:
            self.client.put_object(
                Bucket=self.bucket,
                Key=f"baseline/{hashlib.sha1(key.encode()).hexdigest()}/{rendition.name}",
                Body=rendition.data,
                ContentType=rendition.content_type,
            )


def baseline(
    keys: list[str], storage: object, scanner: ClamdScanner, label: str = "plain loop"
) -> Measured:
    """One process, one file after another, the same work per file as the pipeline."""
    work = PlainWork(storage, scanner)
    cpu, started, processes = cpu_seconds(), time.perf_counter(), ProcessCpu()
    for key in keys:
        work.process(key)
    return Measured(
        label,
        len(keys),
        time.perf_counter() - started,
        cpu_seconds() - cpu,
        rss_of_self(),
        processes=_finish(processes),
    )


def _plain_worker(keys: list[str], ready: Any) -> None:
    """One of the two-process loop's processes: its own resources, then its share of the keys."""
    with open_resources() as resources:
        work = PlainWork(resources.storage, resources.clamav.scanner())
        ready.wait()
        for key in keys:
            work.process(key)


def two_process_baseline(keys: list[str], label: str = "plain loop, 2 processes") -> Measured:
    """The simplest program that uses both cores: the loop above in two forked processes, each
    taking every other key. Not the target's baseline: it shows what two cores give this work
    on this host at the time (a contended or hyperthreaded host gives much less than 2x)."""
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(3)
    children = [
        context.Process(target=_plain_worker, args=(keys[i::2], ready), daemon=True)
        for i in range(2)
    ]
    for child in children:
        child.start()
    ready.wait(timeout=60)  # both have their clients: the clock starts with their first key
    cpu, started, processes = cpu_seconds(), time.perf_counter(), ProcessCpu()
    while any(child.is_alive() for child in children):
        processes.sample()
        for child in children:
            child.join(timeout=1.0)
    seconds = time.perf_counter() - started
    failed = [child.exitcode for child in children if child.exitcode != 0]
    if failed:
        raise RuntimeError(f"a two-process loop worker failed: exit codes {failed}")
    return Measured(
        label,
        len(keys),
        seconds,
        cpu_seconds() - cpu,
        sum(processes.peak_rss_by_pid.get(child.pid or 0, 0.0) for child in children),
        processes=_finish(processes),
    )


def _finish(processes: ProcessCpu) -> dict[str, float]:
    processes.sample()
    return processes.by_kind()


def steal_note() -> str:
    """CPU time the hypervisor took from this VM since boot (a slow, noisy host shows here)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return f"{fields[7] / max(1, sum(fields)):.2%} of CPU time since boot"


def rss_of_self() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def warm_up(photo: Path, folder: Path) -> dict[str, float]:
    """One photo through a first daemon, untimed: the phases of that cold first run."""
    with open_resources() as resources, dagster_daemon(folder / "daemon-warm-up.log"):
        time.sleep(8)  # the daemon loads the code location and ticks once
        ids = upload(resources, [photo], "bench-warm-up")
        started = time.perf_counter()
        wait_processed(resources, ids, lambda: None)
        return run_phases(time.time() - (time.perf_counter() - started))


def upload(resources: Any, photos: list[Path], uploaded_by: str) -> list[str]:
    """Ingest the photos and relay their events to Kafka (acknowledged on return)."""
    postgres, kafka = resources.postgres, resources.kafka
    result = ingest_files(
        resources.storage,
        postgres,
        photos,
        uploaded_by=uploaded_by,
        description=None,
        topic=kafka.file_events_topic,
        run_id=None,
        log=LOG,
    )
    relay_outbox(postgres, kafka, LOG)
    return [m.id for m in result.stored]


def wait_processed(resources: Any, ids: list[str], sample: Callable[[], None]) -> None:
    """Until every file has its `processed_at`, checking every 0.1 s and calling `sample`
    about once a second (reading /proc is not free: it would be the pipeline's CPU)."""
    last_sample = time.monotonic()
    while True:
        with resources.postgres.connection() as conn:
            done = file_rows.processed_ids(conn, ids)
        if len(done) == len(ids):
            return
        if time.monotonic() - last_sample >= 1.0:
            sample()
            last_sample = time.monotonic()
        time.sleep(0.1)


def wait_for_forkserver(daemon_pid: int, timeout: float = 60.0) -> bool:
    """Until the daemon's run forkserver (its warm-up) has loaded: a child running
    `-m file_pipeline.launcher` whose CPU time stood still for a second. False if none came."""
    deadline = time.monotonic() + timeout
    previous: dict[int, int] = {}
    while time.monotonic() < deadline:
        current = forkservers_of(daemon_pid)
        if current and current == previous:
            return True
        previous = current
        time.sleep(1.0)
    return False


def pipeline(photos: list[Path], workers: int, folder: Path, number: int = 1) -> Measured:
    """Upload, then time the daemon-driven processing to the last `processed_at`."""
    os.environ["PROCESSING_WORKERS"] = str(workers)
    with (
        open_resources() as resources,
        dagster_daemon(folder / f"daemon-{workers}-{number}.log") as daemon,
    ):
        time.sleep(8)  # the daemon loads the code location and ticks once
        if not wait_for_forkserver(daemon.pid):
            print("warning: the daemon warmed up no forkserver; the first run will start one")
        ids = upload(resources, photos, f"bench-{workers}-{number}")
        cpu, started, processes = cpu_seconds(), time.perf_counter(), ProcessCpu()
        wait_processed(resources, ids, processes.sample)
        seconds = time.perf_counter() - started
        phases = run_phases(time.time() - seconds)
        by_kind = _finish(processes)
    return Measured(
        f"pipeline, {workers} worker{'s' if workers > 1 else ''}, {number}",
        len(ids),
        seconds,
        cpu_seconds() - cpu,
        processes.peak_rss_mb,
        phases,
        by_kind,
        processes.top(),
        processes.processes_by_kind(),
    )


def run_phases(acknowledged_at: float) -> dict[str, float]:
    """From the instance: when the first processing run was requested and started (sensor pickup
    and run launch), and the summed step durations of every processing run."""
    import dagster as dg

    instance = dg.DagsterInstance.get()
    records = [  # this measurement's processing runs, not the previous worker count's
        record
        for record in instance.get_run_records(dg.RunsFilter(job_name="process_file_events"))
        if record.create_timestamp.timestamp() > acknowledged_at - 1.0
    ]
    if not records:
        return {}
    others: dict[str, float] = {}  # other jobs' runs that ran during the measurement
    for record in instance.get_run_records():
        if record.dagster_run.job_name != "process_file_events" and (
            record.end_time is None or record.end_time > acknowledged_at
        ):
            name = f"runs of {record.dagster_run.job_name}"
            others[name] = others.get(name, 0.0) + 1
    first = min(records, key=lambda r: r.create_timestamp.timestamp())
    phases = {
        "runs": float(len(records)),
        "sensor pickup": first.create_timestamp.timestamp() - acknowledged_at,
        "run launch": (first.start_time or 0.0) - first.create_timestamp.timestamp(),
    }
    for record in records:
        for step in instance.get_run_step_stats(record.dagster_run.run_id):
            if step.start_time and step.end_time:
                phases[step.step_key] = phases.get(step.step_key, 0.0) + (
                    step.end_time - step.start_time
                )
    return {**phases, **others}


PROCESS_KINDS = [
    # Runs are forked from the launcher's forkserver (`python -m file_pipeline.launcher`, whose
    # arguments name the storage: before postgres); through the code server, a run is a process
    # of its own started with multiprocessing's spawn.
    ("run process", ("-m file_pipeline.launcher ", "multiprocessing.spawn", "api execute_run")),
    ("decoding workers", ("multiprocessing.forkserver",)),
    ("code server", ("api grpc", "code-server", "grpc")),
    ("daemon", ("dagster-daemon",)),
    ("postgres", ("postgres",)),
    ("kafka", ("java",)),
    ("minio", ("minio",)),
    ("clamd", ("clamd",)),
]


DAGSTER_KINDS = {"decoding workers", "run process", "code server", "daemon"}


class ProcessCpu:
    """CPU seconds by kind of process (daemon, run, workers, services) over a measurement, and
    the peak resident memory of Dagster's processes (daemon, code server, runs, workers) summed,
    sampled from /proc (no subprocess, so sampling costs the pipeline little CPU). A process
    that exits between samples loses its last interval, or all of it if it lived between two
    samples; what its parent reaped (cutime, cstime) and was not sampled is counted apart, under
    "exited unsampled (children of <parent kind>)"."""

    def __init__(self) -> None:
        self.tick = os.sysconf("SC_CLK_TCK")
        self.page_mb = os.sysconf("SC_PAGE_SIZE") / 2**20
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self.args: dict[int, str] = {}
        self.peak_rss_by_pid: dict[int, float] = {}
        self.parent: dict[int, int] = {}
        self.reaped_first: dict[int, float] = {}
        self.reaped_last: dict[int, float] = {}
        self.alive: set[int] = set()
        self.peak_rss_mb = 0.0
        self.sample(first=True)

    def sample(self, *, first: bool = False) -> None:
        rss_mb = 0.0
        self.alive = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:  # read each time: a process forked by another has its parent's until it execs
                stat = (entry / "stat").read_text()
                args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            kind = _kind_of(args or stat.split(")")[0])
            if kind != "other" or pid not in self.kind:  # an unreadable cmdline keeps its kind
                self.kind[pid] = kind
            fields = stat.rsplit(")", 1)[1].split()
            used = (int(fields[11]) + int(fields[12])) / self.tick
            reaped = (int(fields[13]) + int(fields[14])) / self.tick
            self.parent[pid] = int(fields[1])
            self.alive.add(pid)
            rss = int(fields[21]) * self.page_mb
            self.peak_rss_by_pid[pid] = max(self.peak_rss_by_pid.get(pid, 0.0), rss)
            if args and kind != "other":
                self.args[pid] = args
            if self.kind[pid] in DAGSTER_KINDS:
                rss_mb += rss
            if first:
                self.first[pid] = used
                self.reaped_first[pid] = reaped
            else:
                self.first.setdefault(pid, 0.0)
                self.reaped_first.setdefault(pid, 0.0)
            self.last[pid] = used
            self.reaped_last[pid] = reaped
        self.peak_rss_mb = max(self.peak_rss_mb, rss_mb)

    def processes_by_kind(self) -> dict[str, int]:
        """How many processes of each kind ran during the measurement."""
        counts: dict[str, int] = {}
        for pid, used in self.last.items():
            if used - self.first.get(pid, 0.0) > 0:
                kind = self.kind.get(pid, "other")
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def top(self, count: int = 8) -> list[str]:
        """The processes that used the most CPU: pid, kind, CPU s, peak RSS and command."""
        used = sorted(
            ((last - self.first.get(pid, 0.0), pid) for pid, last in self.last.items()),
            reverse=True,
        )
        return [
            f"{pid} {self.kind.get(pid, 'other')} {cpu:.1f} s "
            f"{self.peak_rss_by_pid.get(pid, 0):.0f} MB `{self.args.get(pid, '')[:60]}`"
            for cpu, pid in used[:count]
        ]

    def by_kind(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for pid, used in self.last.items():
            kind = self.kind.get(pid, "other")
            totals[kind] = totals.get(kind, 0.0) + used - self.first.get(pid, 0.0)
        for parent, reaped in self.reaped_last.items():
            if parent not in self.alive:
                continue  # exited itself: its parent's reaped time covers it and its children
            sampled = sum(
                self.last[pid]
                + self.reaped_last.get(pid, 0.0)
                - self.first.get(pid, 0.0)
                - self.reaped_first.get(pid, 0.0)
                for pid, ppid in self.parent.items()
                if ppid == parent and pid not in self.alive
            )
            unsampled = reaped - self.reaped_first.get(parent, 0.0) - sampled
            if unsampled > 0.05:
                kind = f"exited unsampled (children of {self.kind.get(parent, 'other')})"
                totals[kind] = totals.get(kind, 0.0) + unsampled
        return dict(sorted(totals.items(), key=lambda item: -item[1]))


def _kind_of(args: str) -> str:
    for kind, needles in PROCESS_KINDS:
        if any(needle in args for needle in needles):
            return kind
    return "benchmark" if "processing_throughput" in args else "other"


def plot(speeds: list[float], loop: float, workers: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(workers, speeds, marker="o", label="pipeline")
    axis.axhline(loop, color="grey", linestyle="--", label="plain loop")
    axis.set_xlabel("PROCESSING_WORKERS")
    axis.set_ylabel("photos per second (12 MP)")
    axis.set_xticks(workers)
    axis.set_ylim(bottom=0)
    axis.legend()
    axis.set_title("Processing throughput, end to end with the daemon")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


@dataclass
class Round:
    """One round: the plain loops measured just before it, and the pipeline at each worker
    count. Each pipeline measurement is compared with the faster plain loop on either side of
    it (this round's and the next one's, or the last one after the rounds)."""

    loop: Measured
    two_processes: Measured
    pipelines: list[Measured]


def print_table(rows: list[tuple[Measured, Measured]]) -> None:
    cores = os.cpu_count() or 1
    print(f"{'':<34}{'seconds':>9}{'files/s':>9}{'ratio':>7}{'CPU used':>10}{'peak RSS':>10}")
    for measured, base in rows:
        busy = measured.cpu_seconds / (measured.seconds * cores)
        print(
            f"{measured.label:<34}{measured.seconds:>9.2f}{measured.files_per_second:>9.2f}"
            f"{measured.files_per_second / base.files_per_second:>7.2f}"
            f"{busy:>9.0%} {measured.peak_rss_mb:>8.0f} MB"
        )


def print_details(measured: Measured) -> None:
    if measured.phases:
        parts = ", ".join(
            f"{name} {value:.0f}" if name.startswith("runs") else f"{name} {value:.1f} s"
            for name, value in measured.phases.items()
        )
        print(f"{measured.label}: {parts}")
    if measured.processes:
        parts = ", ".join(
            f"{kind} {seconds:.1f}"
            for kind, seconds in measured.processes.items()
            if seconds >= 0.05
        )
        print(f"{measured.label} CPU s by process: {parts}")
    if measured.counts:
        parts = ", ".join(f"{kind} {n}" for kind, n in sorted(measured.counts.items()))
        print(f"{measured.label} processes that used CPU: {parts}")
    for line in measured.top or []:
        print(f"{measured.label}, top process: {line}")


def decode_ms(measured: Measured, kind: str) -> float:
    """CPU milliseconds per file of the processes of `kind`, those that exited unsampled too."""
    processes = measured.processes or {}
    used = processes.get(kind, 0.0) + processes.get(f"exited unsampled (children of {kind})", 0.0)
    return 1000 * used / measured.files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds: loops, then each worker count, again"
    )
    parser.add_argument("--plot", type=Path, default=Path("docs/images/throughput.png"))
    args = parser.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    photos = photo_set(args.photos)
    megabytes = sum(p.stat().st_size for p in photos) / 2**20
    rounds: list[Round] = []
    with isolated_environment("bench"), tempfile.TemporaryDirectory() as folder:
        with open_resources() as resources:
            keys = []
            client = resources.storage.get_client()
            for photo in photos:
                key = f"baseline-source/{photo.name}"
                client.put_object(Bucket=resources.storage.bucket, Key=key, Body=photo.read_bytes())
                keys.append(key)
        cold: dict[str, float] = {}
        for number in range(1, args.repeat + 1):
            with open_resources() as resources:
                loop = baseline(
                    keys, resources.storage, resources.clamav.scanner(), f"plain loop, {number}"
                )
            two = two_process_baseline(keys, f"plain loop, 2 processes, {number}")
            if number == 1:
                cold = warm_up(photos[0], Path(folder))
            measured = [pipeline(photos, n, Path(folder), number) for n in workers]
            rounds.append(Round(loop, two, measured))
        with open_resources() as resources:
            last = baseline(keys, resources.storage, resources.clamav.scanner(), "plain loop, last")
    loops = [r.loop for r in rounds] + [last]
    print(f"machine: {machine()}")
    print(f"photos: {len(photos)} x 12 MP JPEG ({megabytes / len(photos):.2f} MB each)")
    # The machine's speed drifts (a shared VM: one baseline here once took twice as long as
    # another): each pipeline measurement is compared with the faster plain loop beside it.
    rows: list[tuple[Measured, Measured]] = []
    ratios: dict[int, list[float]] = {n: [] for n in workers}
    speeds: dict[int, list[float]] = {n: [] for n in workers}
    for index, round_ in enumerate(rounds):
        base = min(loops[index], loops[index + 1], key=lambda m: m.seconds)
        rows += [(round_.loop, base), (round_.two_processes, base)]
        for n, measured in zip(workers, round_.pipelines, strict=True):
            rows.append((measured, base))
            ratios[n].append(measured.files_per_second / base.files_per_second)
            speeds[n].append(measured.files_per_second)
    rows.append((last, min(loops[-2:], key=lambda m: m.seconds)))
    print_table(rows)
    print("each ratio is to the faster plain loop next to it (its round's or the next one)")
    for round_ in rounds:
        for measured in [round_.loop, round_.two_processes, *round_.pipelines]:
            print_details(measured)
    print_details(last)
    for round_ in rounds:
        print(
            f"round {rounds.index(round_) + 1}: CPU per photo, plain loop (all its work) "
            f"{decode_ms(round_.loop, 'benchmark'):.0f} ms, two-process loop "
            f"{decode_ms(round_.two_processes, 'benchmark'):.0f} ms; pipeline's decoding workers "
            + ", ".join(
                f"{n} worker{'s' if n > 1 else ''} {decode_ms(m, 'decoding workers'):.0f} ms"
                for n, m in zip(workers, round_.pipelines, strict=True)
            )
        )
    two_ratios = [
        r.two_processes.files_per_second
        / min(loops[i], loops[i + 1], key=lambda m: m.seconds).files_per_second
        for i, r in enumerate(rounds)
    ]
    print(
        "two-process plain loop (what two cores give the plain work on this host now): "
        + ", ".join(f"{v:.2f}x" for v in two_ratios)
    )
    for n in workers:
        values = ", ".join(f"{v:.2f}x" for v in ratios[n])
        print(
            f"pipeline, {n} worker{'s' if n > 1 else ''}: {values}; "
            f"median {statistics.median(ratios[n]):.2f}x over {len(ratios[n])} rounds"
        )
    if cold:
        print(
            f"cold start, not measured above (the warm-up photo's run, before any forkserver): "
            f"sensor pickup {cold.get('sensor pickup', 0):.1f} s, "
            f"run launch {cold.get('run launch', 0):.1f} s"
        )
    print(f"steal: {steal_note()}")
    print("target: pipeline >= 1.5x the plain loop on 2 cores, growing with workers")
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    median_loop = statistics.median(m.files_per_second for m in loops)
    plot([statistics.median(speeds[n]) for n in workers], median_loop, workers, args.plot)
    print(f"plot: {args.plot} (medians over the rounds)")


if __name__ == "__main__":
    main()
