"""Expanding what a user asked to upload (files, directories, globs) into readable files."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Rejected:
    """A requested path that will not be uploaded, and why."""

    path: str
    reason: str


def expand_paths(requested: list[str]) -> tuple[list[Path], list[Rejected]]:
    """Resolve paths, directories (recursively) and globs into files, in a stable order.

    Every requested path either yields files or a Rejected entry: a path that does not exist, a
    glob that matches nothing, an unreadable file or a special file is reported, never dropped.
    """
    files: list[Path] = []
    rejected: list[Rejected] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        resolved = path.resolve()
        if resolved in seen:
            return
        if not resolved.is_file():
            rejected.append(Rejected(str(path), "not a regular file"))
            return
        if not os.access(resolved, os.R_OK):
            rejected.append(Rejected(str(path), "permission denied: file is not readable"))
            return
        seen.add(resolved)
        files.append(resolved)

    for raw in requested:
        if not raw or "\x00" in raw:
            rejected.append(Rejected(repr(raw), "empty path or path containing NUL"))
            continue
        expanded = os.path.expanduser(raw)
        if _GLOB_CHARS & set(expanded):
            matches = sorted(glob.glob(expanded, recursive=True))
            if not matches:
                rejected.append(Rejected(raw, "glob matched no files"))
            for match in matches:
                if Path(match).is_dir():
                    continue
                add(Path(match))
            continue
        path = Path(expanded)
        if path.is_dir():
            if not os.access(path, os.R_OK | os.X_OK):
                rejected.append(Rejected(raw, "permission denied: directory is not readable"))
                continue
            for root, dirs, names in os.walk(
                path,
                onerror=lambda e: rejected.append(
                    Rejected(str(e.filename), f"cannot list directory: {e.strerror}")
                ),
            ):
                dirs.sort()
                for name in sorted(names):
                    add(Path(root) / name)
        elif path.exists() or path.is_symlink():
            add(path)
        else:
            rejected.append(Rejected(raw, "path does not exist"))
    return files, rejected
