"""A corpus of damaged and unusual files (`fuzz_corpus`, fixed seed) through the real pipeline:
one `upload_files` batch, the daemon's sensor, real processing runs. No run may fail, every file
must reach a final state, and the intact files must get all their outputs."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from file_pipeline.processing.thumbnails import DEFAULT_RENDITIONS
from file_pipeline.states import Outcome, Stage
from file_pipeline_tests.fuzz_corpus import CorpusFile, generate_corpus
from file_pipeline_tests.helpers import run_upload, uploaded_ids
from file_pipeline_tests.services import (
    DaemonEnvironment,
    daemon_environment,
)

pytestmark = pytest.mark.stack

SEED = 20261125
FINAL_STATUSES = {"clean", "infected", "failed"}
IMAGE_KINDS = {"jpeg", "png", "gif", "webp", "tiff"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonEnvironment]:
    with daemon_environment("fuzz", tmp_path_factory.mktemp("fuzz-daemon")) as environment:
        yield environment


def test_a_damaged_corpus_is_processed_in_one_batch_with_every_file_in_a_final_state(
    env: DaemonEnvironment,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    corpus = generate_corpus(tmp_path / "corpus", seed=SEED, count=240)
    assert len(corpus) >= 200
    upload = run_upload(env.definitions, env.instance, [tmp_path / "corpus"], uploaded_by="fuzz")
    assert upload.success
    ids = uploaded_ids(upload)
    (materialization,) = upload.asset_materializations_for_node("uploaded_files")
    duplicates = len(materialization.metadata["already_stored_ids"].value)
    assert len(ids) + duplicates == len(corpus), "every file is stored or found identical"

    env.wait_until_processed(ids, timeout=420)

    runs = env.finished_processing_runs(120)
    assert runs and all(r.is_finished for r in runs)
    assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}, "no run failed"

    with env.resources.postgres.connection() as conn:
        rows = {
            row[0]: {"filename": row[1], "status": row[2], "processed_at": row[3]}
            for row in conn.execute(
                "SELECT id, filename, status, processed_at FROM files WHERE id = ANY(%s)", (ids,)
            )
        }
        results: dict[str, dict[str, tuple[str, str, str | None]]] = {}
        for file_id, stage, outcome, detail, error_type in conn.execute(
            "SELECT file_id, stage, outcome, detail, error_type FROM processing_results"
            " WHERE file_id = ANY(%s)",
            (ids,),
        ):
            results.setdefault(file_id, {})[stage] = (outcome, detail, error_type)
        renditions = dict(
            conn.execute(
                "SELECT file_id, count(*) FROM thumbnails WHERE file_id = ANY(%s) GROUP BY 1",
                (ids,),
            ).fetchall()
        )
        indexed = dict(
            conn.execute(
                "SELECT file_id, length(body) FROM search_index WHERE file_id = ANY(%s)", (ids,)
            ).fetchall()
        )
    for file_id, row in rows.items():
        assert row["processed_at"] is not None, f"{row['filename']} has no final state"
        assert row["status"] in FINAL_STATUSES, row
        assert set(results[file_id]) == {stage.value for stage in Stage}, row["filename"]

    by_name = {row["filename"]: file_id for file_id, row in rows.items()}
    for item in _intact(corpus):
        file_id = by_name.get(item.path.name)
        if file_id is None:
            continue  # identical bytes to another file of the corpus, stored once
        stages = results[file_id]
        assert stages["virus_scan"][0] == Outcome.DONE.value, item
        assert stages["search_index"][0] in (Outcome.DONE.value, Outcome.PARTIAL.value), (
            item,
            stages["search_index"],
        )
        if item.kind in IMAGE_KINDS:
            assert stages["exif_metadata"][0] == Outcome.DONE.value, (item, stages)
            assert stages["thumbnails"][0] == Outcome.DONE.value, (item, stages)
            assert renditions.get(file_id) == len(DEFAULT_RENDITIONS), item
        else:
            assert indexed.get(file_id, 0) > 0, f"{item.path.name}: its text is searchable"

    failures = Counter(
        f"{stage}: {error_type or 'failed'}"
        for stages in results.values()
        for stage, (outcome, _detail, error_type) in stages.items()
        if outcome == Outcome.FAILED.value
    )
    statuses = Counter(row["status"] for row in rows.values())
    record_property("corpus", json.dumps({"files": len(corpus), "stored": len(ids)}))
    record_property("statuses", json.dumps(statuses))
    record_property("failures_by_stage_and_type", json.dumps(failures.most_common()))
    record_property("processing_runs", len(runs))


def _intact(corpus: list[CorpusFile]) -> list[CorpusFile]:
    return [item for item in corpus if item.intact]
