from pathlib import Path

from file_pipeline.upload.local_files import expand_paths


def _tree(root: Path) -> None:
    (root / "a").mkdir()
    (root / "a" / "one.txt").write_text("1")
    (root / "a" / "two.jpg").write_bytes(b"2")
    (root / "b.txt").write_text("b")


def test_files_directories_and_globs(tmp_path: Path) -> None:
    _tree(tmp_path)
    files, rejected = expand_paths([str(tmp_path / "a"), str(tmp_path / "*.txt")])
    assert [f.name for f in files] == ["one.txt", "two.jpg", "b.txt"]
    assert rejected == []
    files, _ = expand_paths([str(tmp_path / "**" / "*.txt")])
    assert sorted(f.name for f in files) == ["b.txt", "one.txt"]


def test_duplicates_are_uploaded_once(tmp_path: Path) -> None:
    _tree(tmp_path)
    files, _ = expand_paths([str(tmp_path / "b.txt"), str(tmp_path / "b.txt"), str(tmp_path)])
    assert len(files) == 3


def test_missing_paths_and_empty_globs_are_reported(tmp_path: Path) -> None:
    files, rejected = expand_paths([str(tmp_path / "nope.txt"), str(tmp_path / "*.zip"), ""])
    assert files == []
    assert [r.reason for r in rejected] == [
        "path does not exist",
        "glob matched no files",
        "empty path or path containing NUL",
    ]
