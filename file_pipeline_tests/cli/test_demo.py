"""`file-pipeline demo`, the README's first command after the install, as a process of its own on
an environment of its own: it uploads the sample files, its daemon's sensor processes them, and
it prints every sample's outcome per stage."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from file_pipeline.sandbox import isolated_environment

pytestmark = pytest.mark.stack

SAMPLES = Path(__file__).resolve().parents[2] / "file_pipeline" / "samples"


def _outcomes(output: str) -> dict[str, dict[str, str]]:
    """`  name  [status]` headers and their `    stage  outcome  detail` lines, by file."""
    files: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in output.splitlines():
        header = re.fullmatch(r"  (\S+)  \[(\w+)\]", line)
        if header:
            current = files.setdefault(header.group(1), {"status": header.group(2)})
        elif line.startswith("    ") and current:
            stage, _, rest = line.strip().partition(" ")
            current[stage] = rest.strip()
    return files


def test_the_demo_processes_every_sample_and_prints_each_outcome() -> None:
    cli = Path(sys.executable).with_name("file-pipeline")
    with isolated_environment("demo"):
        done = subprocess.run(
            [str(cli), "demo", "--timeout", "180"],
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    outcomes = _outcomes(done.stdout)
    assert set(outcomes) == {p.name for p in SAMPLES.iterdir()}
    video = outcomes["phone-video.mov"]
    assert video["status"] == "clean"
    assert video["exif_metadata"] == "done     3 s h264 480x270 at 24 fps"
    assert video["thumbnails"] == "done     3 poster frames at 10 %, 50 %, 90 %"
    assert outcomes["iphone-photo.heic"]["exif_metadata"].startswith("done")
    assert outcomes["iphone-photo.heic"]["thumbnails"].startswith("done     thumbnail 250x188")
    report = outcomes["expense-report.docx"]
    assert "sensitive data: 1 email, 1 payment_card" in report["search_index"]
    assert (
        "It appears to contain 1 e-mail address and 1 payment card number"
        in (report["notifications"])
    )
    assert outcomes["eicar-test-file.txt"]["status"] == "infected"
    assert "demo finished in" in done.stdout
