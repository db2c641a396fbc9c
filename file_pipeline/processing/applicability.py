"""Which derived stage applies to which clean file, as Python for the run and as SQL for status,
verification and the sweeper, so the two can never disagree.

`exif_metadata` reads pictures, and videos' container metadata; `thumbnails` renders pictures,
the first page of PDFs and videos' poster frames; `search_index` applies to every clean file
(text where there is an extractor, the filename for the rest). Pictures and PDFs above
MAX_DECODE_BYTES are not decoded, nor videos above MAX_VIDEO_BYTES.
"""

from __future__ import annotations

from file_pipeline.states import Stage

MAX_DECODE_BYTES = 64 * 1024 * 1024
MAX_VIDEO_BYTES = 2 * 1024 * 1024 * 1024
PDF = "application/pdf"
VIDEO_TYPES = (
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/x-matroska",
    "video/x-msvideo",
)
"""The video types ffmpeg reads (each with its demuxer in `video.DEMUXERS`)."""


def media_type(content_type: str | None) -> str:
    """`image/jpeg; q=1` -> `image/jpeg`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_picture(content_type: str | None) -> bool:
    return media_type(content_type).startswith("image/")


def is_video(content_type: str | None) -> bool:
    return media_type(content_type) in VIDEO_TYPES


def has_renditions(content_type: str | None) -> bool:
    """Whether `thumbnails` makes renditions of this type: pictures, PDFs' first page and
    videos' poster frames."""
    return is_picture(content_type) or is_video(content_type) or media_type(content_type) == PDF


def not_applicable(stage: Stage, content_type: str | None, file_size: int) -> str | None:
    """Why a derived stage does not apply to a clean file of this type and size (None: it does)."""
    video = is_video(content_type)
    if stage is Stage.EXIF_METADATA and not (is_picture(content_type) or video):
        return f"not an image or a video ({content_type})"
    if stage is Stage.THUMBNAILS and not has_renditions(content_type):
        return f"not an image, a PDF or a video ({content_type})"
    limit = MAX_VIDEO_BYTES if video else MAX_DECODE_BYTES
    if stage in (Stage.EXIF_METADATA, Stage.THUMBNAILS) and file_size > limit:
        return f"larger than {limit} bytes"
    return None


def applies_sql(stage: Stage, files: str = "f") -> str:
    """`not_applicable(...) is None` as a SQL condition on the `files` row aliased `files`, for a
    query run with parameters (its `%` are doubled)."""
    content_type = f"lower(split_part(coalesce({files}.content_type, ''), ';', 1))"
    small = f"{files}.file_size <= {MAX_DECODE_BYTES}"
    videos = ", ".join(f"'{t}'" for t in VIDEO_TYPES)
    video = f"({content_type} IN ({videos}) AND {files}.file_size <= {MAX_VIDEO_BYTES})"
    if stage is Stage.EXIF_METADATA:
        return f"(({content_type} LIKE 'image/%%' AND {small}) OR {video})"
    if stage is Stage.THUMBNAILS:
        return (
            f"((({content_type} LIKE 'image/%%' OR {content_type} = '{PDF}') AND {small})"
            f" OR {video})"
        )
    return "TRUE"
