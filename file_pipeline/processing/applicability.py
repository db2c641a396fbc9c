"""Which derived stage applies to which clean file, as Python for the run and as SQL for status,
verification and the sweeper, so the two can never disagree.

`exif_metadata` reads pictures; `thumbnails` renders pictures and the first page of PDFs;
`search_index` applies to every clean file (text where there is an extractor, the filename for
the rest). Pictures and PDFs above MAX_DECODE_BYTES are not decoded.
"""

from __future__ import annotations

from file_pipeline.states import Stage

MAX_DECODE_BYTES = 64 * 1024 * 1024
PDF = "application/pdf"


def media_type(content_type: str | None) -> str:
    """`image/jpeg; q=1` -> `image/jpeg`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_picture(content_type: str | None) -> bool:
    return media_type(content_type).startswith("image/")


def has_renditions(content_type: str | None) -> bool:
    """Whether `thumbnails` makes renditions of this type: pictures, and PDFs' first page."""
    return is_picture(content_type) or media_type(content_type) == PDF


def not_applicable(stage: Stage, content_type: str | None, file_size: int) -> str | None:
    """Why a derived stage does not apply to a clean file of this type and size (None: it does)."""
    if stage is Stage.EXIF_METADATA and not is_picture(content_type):
        return f"not an image ({content_type})"
    if stage is Stage.THUMBNAILS and not has_renditions(content_type):
        return f"not an image or a PDF ({content_type})"
    if stage in (Stage.EXIF_METADATA, Stage.THUMBNAILS) and file_size > MAX_DECODE_BYTES:
        return f"larger than {MAX_DECODE_BYTES} bytes"
    return None


def applies_sql(stage: Stage, files: str = "f") -> str:
    """`not_applicable(...) is None` as a SQL condition on the `files` row aliased `files`, for a
    query run with parameters (its `%` are doubled)."""
    content_type = f"lower(split_part(coalesce({files}.content_type, ''), ';', 1))"
    small = f"{files}.file_size <= {MAX_DECODE_BYTES}"
    if stage is Stage.EXIF_METADATA:
        return f"({content_type} LIKE 'image/%%' AND {small})"
    if stage is Stage.THUMBNAILS:
        return f"(({content_type} LIKE 'image/%%' OR {content_type} = '{PDF}') AND {small})"
    return "TRUE"
