"""Smoke test: the code location loads, with the expected assets, jobs, sensor and lineage."""

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from file_pipeline.cli.runtime import load_definitions

PROJECT_ROOT = Path(__file__).resolve().parents[1]


DECODER_MODULES = (
    "PIL",
    "pillow_heif",
    "pypdf",
    "pypdfium2",
    "phonenumbers",
    "stdnum",
    "docx",
    "openpyxl",
    "file_pipeline.processing.derive",
)


def test_loading_the_code_location_imports_no_decoder() -> None:
    """The code server and every run's process load the definitions; the decoders load only in
    the decoding workers (part of what a run's start costs)."""
    script = (
        "import sys\n"
        "from file_pipeline.cli.runtime import load_definitions\n"
        "load_definitions().resolve_all_job_defs()\n"
        f"print(','.join(m for m in {DECODER_MODULES!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "", f"loaded by the definitions: {out.stdout.strip()}"


def test_definitions_load_without_connecting_anywhere() -> None:
    """Every service address points at a closed port: loading must not notice."""
    closed = {
        "DATABASE_URL": "postgresql://nobody:x@127.0.0.1:1/nothing",
        "DAGSTER_PG_URL": "postgresql://nobody:x@127.0.0.1:1/nothing",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "S3_ENDPOINT_URL": "http://127.0.0.1:1",
        "CLAMAV_PORT": "1",
    }
    script = (
        "from file_pipeline.cli.runtime import load_definitions\n"
        "defs = load_definitions()\n"
        "print(len(defs.resolve_all_job_defs()), len(defs.resolve_all_asset_keys()))"
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **closed},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert time.monotonic() - started < 60, "loading waited on something"


def test_lineage_jobs_sensors_and_resources() -> None:
    defs = load_definitions()
    graph = defs.resolve_asset_graph()
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert parents["file_events"] == {"uploaded_files", "deleted_files"}
    assert parents["virus_scan"] == {"file_events"}
    for stage in ("exif_metadata", "thumbnails", "search_index"):
        assert parents[stage] == {"virus_scan"}
    assert parents["notifications"] == {"exif_metadata", "thumbnails", "search_index"}
    assert parents["file_statistics"] == {"notifications"}
    jobs = {job.name for job in defs.resolve_all_job_defs()}
    assert {
        "upload_files",
        "delete_files",
        "relay_file_events",
        "reconcile_storage",
        "process_file_events",
        "check_data_health",
    } <= jobs
    sensor = defs.resolve_sensor_def("file_events_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert "FILE_EVENTS_BATCH_SIZE" in (sensor.description or "")
    assert defs.resolve_sensor_def("outbox_relay_sensor").default_status == (
        dg.DefaultSensorStatus.RUNNING
    )
    assert set(defs.resources) == {"storage", "postgres", "kafka", "clamav", "processing"}


def test_every_stage_asset_carries_its_version() -> None:
    """The code versions the UI shows are the versions outputs are recorded with."""
    from file_pipeline import settings
    from file_pipeline.processing.versions import parse_renditions, thumbnails_version

    graph = load_definitions().resolve_asset_graph()
    versions = {
        key.to_user_string(): graph.get(key).code_version for key in graph.get_all_asset_keys()
    }
    for stage in ("virus_scan", "exif_metadata", "thumbnails", "search_index", "notifications"):
        assert versions[stage], stage
    specs = parse_renditions(settings.THUMBNAIL_RENDITIONS.value())
    assert versions["thumbnails"] == thumbnails_version(specs)


def test_upload_job_default_config_uploads_the_samples() -> None:
    job = load_definitions().resolve_job_def("upload_files")
    config_type = job.run_config_schema.config_type
    default = config_type.fields["ops"].config_type.fields["uploaded_files"].default_value
    paths = default["config"]["paths"]
    assert len(paths) == 1 and Path(paths[0]).name == "samples" and Path(paths[0]).is_dir()


def test_dg_check_defs_passes() -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("dg")), "check", "defs"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean() -> None:
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("ruff")),
            "check",
            "file_pipeline",
            "file_pipeline_tests",
            "benchmarks",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_job_runs_its_steps_in_the_runs_process() -> None:
    """Dagster's default executor would start an interpreter per step (about 3 CPU s each): the
    scheduled health checks and every statistics refresh would take it from processing."""
    executors = {
        job.name: job.executor_def.name for job in load_definitions().resolve_all_job_defs()
    }
    assert {"check_data_health", "reconcile_storage", "reprocess_files"} <= set(executors)
    assert set(executors.values()) == {dg.in_process_executor.name}, executors
