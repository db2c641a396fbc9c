"""Smoke test: the code location loads, with the expected assets, jobs, sensor and lineage."""

import subprocess
import sys
from pathlib import Path

import dagster as dg

from file_pipeline.runtime import load_definitions

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_without_connecting_anywhere() -> None:
    defs = load_definitions()
    graph = defs.resolve_asset_graph()
    parents = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert parents["file_events"] == {"uploaded_files", "deleted_files"}
    assert parents["virus_scan"] == {"file_events"}
    for step in ("exif_metadata", "thumbnails", "search_index"):
        assert parents[step] == {"virus_scan"}
    assert parents["notifications"] == {"exif_metadata", "thumbnails", "search_index"}
    assert parents["file_statistics"] == {"notifications"}
    for job in ("upload_files", "delete_files", "relay_file_events", "reconcile_storage"):
        assert defs.resolve_job_def(job) is not None
    assert defs.resolve_job_def("process_file_events") is not None
    sensor = defs.resolve_sensor_def("file_events_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_sensor_def("outbox_relay_sensor") is not None
    assert set(defs.resources) == {"storage", "postgres", "kafka", "clamav"}


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
