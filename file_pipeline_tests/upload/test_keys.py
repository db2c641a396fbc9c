import pytest

from file_pipeline.upload.keys import (
    MAX_KEY_NAME_BYTES,
    KeyArea,
    parse_key,
    quarantine_key,
    rendition_key,
    safe_filename,
    safe_segment,
    upload_key,
    upload_key_of,
)


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


def test_every_area_is_named_and_read_back_in_one_place() -> None:
    upload = upload_key("alice", "f-1", "photo.jpg")
    assert parse_key(upload) == parse_key(upload).__class__(upload, KeyArea.UPLOADS, "f-1")
    assert rendition_key("f-1", "preview", "jpg") == "thumbnails/f-1/preview.jpg"
    assert parse_key("thumbnails/f-1/preview.jpg").file_id == "f-1"
    quarantined = quarantine_key(upload)
    assert quarantined == f"quarantine/{upload}"
    assert quarantine_key(quarantined) == quarantined, "quarantining twice changes nothing"
    parsed = parse_key(quarantined)
    assert (parsed.area, parsed.file_id, parsed.original_key) == (KeyArea.QUARANTINE, "f-1", upload)
    assert upload_key_of(quarantined) == upload


def test_the_seed_clients_keys_carry_no_file_id() -> None:
    """The Java tutorial writes uploads/<user>/<filename>: read back, with no id to guess."""
    parsed = parse_key("uploads/alice/vacation-photo.jpg")
    assert (parsed.area, parsed.file_id) == (KeyArea.UPLOADS, None)
    assert parse_key("elsewhere/x").area is KeyArea.OTHER
