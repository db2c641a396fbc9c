"""Everything the derived stages make from one clean file, from one read and one decode:
EXIF (`exif_metadata`; a video's container metadata from ffprobe), renditions and a placeholder
(`thumbnails`: of a picture, of a PDF's first page, or of a video's poster frames, with its
optional web rendition) and text with its sensitive-data counts (`search_index`).

Runs in a worker process (see `workers`), so it must be importable without Dagster and return
only picklable data. Each stage's failure is recorded on its own: a file whose EXIF is garbage
still gets its thumbnails. Exceptions are caught here deliberately: this is pure computation on
untrusted bytes, with no dependency that could be out, so anything raised is this file's failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from file_pipeline.processing.applicability import PDF, is_picture, is_video, media_type
from file_pipeline.processing.exif import exif_of
from file_pipeline.processing.failures import classify
from file_pipeline.processing.images import guarded_decode, open_image
from file_pipeline.processing.pdf_preview import first_page_image
from file_pipeline.processing.products import DeriveRequest, Product, Rendition
from file_pipeline.processing.sensitive_data import find_sensitive_data
from file_pipeline.processing.text_extraction import extract_text, has_text_extractor
from file_pipeline.processing.thumbnails import render
from file_pipeline.processing.versions import RenditionSpec
from file_pipeline.processing.video import VideoInfo, poster_frames, probe, web_rendition
from file_pipeline.states import Outcome, Stage

T = TypeVar("T")


def derive(request: DeriveRequest) -> dict[Stage, Product]:
    """The products of the requested stages; never raises for anything the file contains."""
    deadline = time.monotonic() + request.time_budget_seconds
    products: dict[Stage, Product] = {}
    image_stages = request.stages & {Stage.EXIF_METADATA, Stage.THUMBNAILS}
    if image_stages and is_picture(request.content_type):
        products.update(_image_products(request, image_stages))
    elif image_stages and is_video(request.content_type):
        products.update(_video_products(request, image_stages, deadline))
    elif Stage.THUMBNAILS in request.stages and media_type(request.content_type) == PDF:
        products[Stage.THUMBNAILS] = _attempt(lambda: _pdf_preview_product(request))
    if Stage.SEARCH_INDEX in request.stages:
        products[Stage.SEARCH_INDEX] = _attempt(lambda: _text_product(request, deadline))
    return products


def _image_products(request: DeriveRequest, stages: frozenset[Stage]) -> dict[Stage, Product]:
    products: dict[Stage, Product] = {}
    try:
        with guarded_decode():
            image = open_image(Path(request.path))
    except Exception as exc:
        failed = _failure(exc)
        return dict.fromkeys(stages, failed)
    with image:
        if Stage.EXIF_METADATA in stages:
            products[Stage.EXIF_METADATA] = _attempt(lambda: _exif_product(image))
        if Stage.THUMBNAILS in stages:
            products[Stage.THUMBNAILS] = _attempt(
                lambda: _renditions_product(image, request.renditions)
            )
    return products


def _exif_product(image: object) -> Product:
    with guarded_decode():
        exif = exif_of(image)  # type: ignore[arg-type]
    camera = " ".join(filter(None, [exif.camera_make, exif.camera_model]))
    detail = f"{exif.width}x{exif.height}" + (f", {camera}" if camera else "")
    return Product(Outcome.DONE, detail, exif=exif)


def _renditions_product(image: object, specs: tuple[RenditionSpec, ...]) -> Product:
    with guarded_decode():
        rendered = render(image, specs)  # type: ignore[arg-type]
    sizes = ", ".join(f"{r.name} {r.width}x{r.height}" for r in rendered.renditions)
    return Product(
        Outcome.DONE,
        sizes,
        renditions=tuple(rendered.renditions),
        placeholder=rendered.placeholder,
    )


def _pdf_preview_product(request: DeriveRequest) -> Product:
    """Renditions of the first page, rendered once at the largest rendition's size."""
    largest = max(spec.longest_side for spec in request.renditions)
    page = first_page_image(Path(request.path), largest)
    product = _renditions_product(page, request.renditions)
    return Product(
        product.outcome,
        f"first page: {product.detail}",
        renditions=product.renditions,
        placeholder=product.placeholder,
    )


def _video_products(
    request: DeriveRequest, stages: frozenset[Stage], deadline: float
) -> dict[Stage, Product]:
    """ffprobe once for both stages; poster frames (and the web rendition) for `thumbnails`."""
    path = Path(request.path)
    content_type = media_type(request.content_type)
    try:
        info = probe(path, content_type, timeout=deadline - time.monotonic())
    except Exception as exc:
        return dict.fromkeys(stages, _failure(exc))
    products: dict[Stage, Product] = {}
    if Stage.EXIF_METADATA in stages:
        rate = f" at {info.frame_rate:g} fps" if info.frame_rate else ""
        width, height = info.display_size
        products[Stage.EXIF_METADATA] = Product(
            Outcome.DONE,
            f"{info.duration_seconds:g} s {info.codec} {width}x{height}{rate}",
            exif=info.as_exif(),
        )
    if Stage.THUMBNAILS in stages:
        products[Stage.THUMBNAILS] = _attempt(
            lambda: _video_renditions_product(request, content_type, info, deadline)
        )
    return products


def _video_renditions_product(
    request: DeriveRequest, content_type: str, info: VideoInfo, deadline: float
) -> Product:
    """The middle poster frame gives the video's renditions (and placeholder), like a picture;
    every poster frame gives a `poster_<percent>` rendition at the smallest rendition's size."""
    path = Path(request.path)
    settings = request.video
    frames = poster_frames(
        path, content_type, info, settings.poster_percents, timeout=deadline - time.monotonic()
    )
    middle = min(frames, key=lambda percent: abs(percent - 50))
    with guarded_decode():
        rendered = render(frames[middle], request.renditions)
        smallest = min(request.renditions, key=lambda spec: spec.longest_side)
        posters = [
            render(frame, (replace(smallest, name=f"poster_{percent}"),)).renditions[0]
            for percent, frame in frames.items()
        ]
    renditions = [*rendered.renditions, *posters]
    detail = f"{len(posters)} poster frames at {', '.join(f'{p} %' for p in frames)}"
    if settings.web_rendition_height:
        data = web_rendition(path, content_type, settings, timeout=deadline - time.monotonic())
        width, height = info.display_size
        scaled = min(settings.web_rendition_height, height)
        renditions.append(
            Rendition(
                settings.web_rendition_name,
                data,
                "video/mp4",
                "mp4",
                round(width * scaled / height / 2) * 2,
                scaled,
            )
        )
        detail = f"{detail}; {settings.web_rendition_name} {len(data)} bytes"
    return Product(
        Outcome.DONE, detail, renditions=tuple(renditions), placeholder=rendered.placeholder
    )


def _text_product(request: DeriveRequest, deadline: float) -> Product:
    if not has_text_extractor(request.content_type):
        return Product(Outcome.DONE, "filename only", text="")
    data = Path(request.path).read_bytes()
    extracted = extract_text(
        data, request.content_type, request.filename, request.text_limits, deadline=deadline
    )
    scan = find_sensitive_data(
        extracted.text, deadline=deadline, max_chars=request.text_limits.max_chars
    )
    detail = f"{len(extracted.text)} characters of text" if extracted.text else "filename only"
    if scan.counts:
        found = ", ".join(f"{count} {kind.value}" for kind, count in scan.counts.items())
        detail = f"{detail}; sensitive data: {found}"
    partial = "; ".join(filter(None, [extracted.partial, scan.partial]))
    if partial:
        detail = f"{detail} ({partial})"
    outcome = Outcome.PARTIAL if partial else Outcome.DONE
    return Product(outcome, detail, text=extracted.text, sensitive_data=scan)


def _attempt(make: Callable[[], Product]) -> Product:
    try:
        return make()
    except Exception as exc:
        return _failure(exc)


def _failure(exc: BaseException) -> Product:
    classified = classify(exc)
    if isinstance(exc, MemoryError):
        return Product(Outcome.FAILED, "over the memory budget of its worker", "MemoryError")
    return Product(Outcome.FAILED, classified.reason, classified.error_type)
