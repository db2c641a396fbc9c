"""Which derived stage applies to which file: the Python rule the runs follow and the SQL rule
status, verification and the sweeper follow are the same rule (checked on real PostgreSQL)."""

import pytest

from file_pipeline.processing.applicability import (
    MAX_DECODE_BYTES,
    MAX_VIDEO_BYTES,
    applies_sql,
    has_renditions,
    is_picture,
    not_applicable,
)
from file_pipeline.states import Stage

CASES = [
    ("image/jpeg", 1000),
    ("image/heic", 1000),
    ("image/avif; q=1", 1000),
    ("IMAGE/PNG", 1000),
    ("application/pdf", 1000),
    ("application/pdf", MAX_DECODE_BYTES + 1),
    ("image/jpeg", MAX_DECODE_BYTES),
    ("image/jpeg", MAX_DECODE_BYTES + 1),
    ("text/plain", 10),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", 10),
    ("video/mp4", 10),
    ("VIDEO/WEBM", MAX_DECODE_BYTES + 1),
    ("video/quicktime; codecs=hvc1", MAX_VIDEO_BYTES),
    ("video/x-msvideo", MAX_VIDEO_BYTES + 1),
    ("video/unknown", 10),
    (None, 10),
    ("", 10),
]


def test_pictures_and_videos_get_exif_and_renditions_pdfs_renditions_only() -> None:
    assert is_picture("image/png") and not is_picture("application/pdf") and not is_picture(None)
    assert has_renditions("application/pdf") and has_renditions("image/heic")
    assert not has_renditions("text/plain")
    assert not_applicable(Stage.EXIF_METADATA, "application/pdf", 10) == (
        "not an image or a video (application/pdf)"
    )
    assert not_applicable(Stage.THUMBNAILS, "text/plain", 10) == (
        "not an image, a PDF or a video (text/plain)"
    )
    assert not_applicable(Stage.THUMBNAILS, "application/pdf", 10) is None
    assert not_applicable(Stage.THUMBNAILS, "image/jpeg", MAX_DECODE_BYTES + 1) == (
        f"larger than {MAX_DECODE_BYTES} bytes"
    )
    assert not_applicable(Stage.SEARCH_INDEX, None, 10**12) is None


@pytest.mark.stack
def test_the_sql_rule_is_the_python_rule(postgres) -> None:
    with postgres.connection() as conn:
        for stage in Stage.derived():
            for content_type, size in CASES:
                (applies,) = conn.execute(
                    f"SELECT {applies_sql(stage, 'x')} FROM (SELECT %(ct)s::text AS content_type,"
                    " %(size)s::bigint AS file_size) x",
                    {"ct": content_type, "size": size},
                ).fetchone()
                expected = not_applicable(stage, content_type, size) is None
                assert applies is expected, (stage, content_type, size)
