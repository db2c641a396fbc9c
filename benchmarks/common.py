"""What every benchmark shares: an isolated environment on the local stack (the same one the test
suite uses, `file_pipeline.sandbox`) and a description of the machine the numbers come from."""

from __future__ import annotations

import os
import platform
import resource
from pathlib import Path

from file_pipeline.sandbox import isolated_environment

__all__ = ["isolated_environment", "machine", "peak_rss_mb"]


def machine() -> str:
    """CPU model, cores this process may use, memory, Python and kernel, on one line."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    return (
        f"{model}, {cores} cores, {memory_kb / 1024 / 1024:.1f} GiB, "
        f"Python {platform.python_version()}, Linux {platform.release()}"
    )


def peak_rss_mb(*, children: bool = False) -> float:
    """Peak resident memory of this process (or of its waited-for children), in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024
