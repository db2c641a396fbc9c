import pytest

from file_pipeline.keys import MAX_KEY_NAME_BYTES, safe_filename, safe_segment, upload_key


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("vacation-photo.jpg", "vacation-photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("evil\x00.jpg", "evil.jpg"),
        ("line\nbreak.txt", "linebreak.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("my report (final).pdf", "my_report_final_.pdf"),
        ("'; DROP TABLE files; --.txt", "DROP_TABLE_files_--.txt"),
        ("..", "file"),
        ("", "file"),
        ("фото.jpg", "фото.jpg"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_long_names_are_cut_to_the_byte_limit_keeping_the_extension() -> None:
    name = "é" * 400 + ".jpeg"
    safe = safe_filename(name)
    assert len(safe.encode("utf-8")) <= MAX_KEY_NAME_BYTES
    assert safe.endswith(".jpeg")
    safe.encode("utf-8").decode("utf-8")  # never a split multi-byte character


def test_upload_key_layout_and_user_segment() -> None:
    key = upload_key("alice", "1234", "a/b/c.png")
    assert key == "uploads/alice/1234/c.png"
    assert upload_key("../root", "1", "x.txt") == "uploads/root/1/x.txt"
    assert safe_segment("") == "user"
    assert "/" not in safe_segment("a/b")
