"""Encoding: the 150x150 thumbnail made at Ingest and the responsive variants.

Outputs carry no metadata at all: no EXIF (so no GPS, no camera serial numbers), no XMP and no ICC
profile. The pixels are sRGB (load() converts them), and an untagged image is sRGB to every
browser; an embedded sRGB profile would add 0.6-3 KB to a ~5 KB thumbnail and change nothing.
AVIF outputs still say so in their `colr` box (nclx: BT.709 primaries, sRGB transfer), which
Pillow's AVIF encoder writes whenever no ICC profile is given."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, ImageOps

from imagepipe.domain.errors import ErrorCode
from imagepipe.domain.model import Rendered
from imagepipe.imaging import _pillow
from imagepipe.imaging.errors import ImagingError

# name, max width, quality (the same quality scale is used for WebP and AVIF)
VARIANT_SPECS: tuple[tuple[str, int, int], ...] = (
    ("small", 640, 80),
    ("medium", 1024, 85),
    ("large", 1920, 90),
)
OUTPUT_FORMATS = ("webp", "avif")
THUMBNAIL_SIZE = 150
THUMBNAIL_QUALITY = 70
PREVIEW_QUALITY = 85
DEFAULT_AVIF_SPEED = 9  # measured: tests/bench/RESULTS.md, README "Benchmark"
# libwebp's default effort. Measured on the 12 MP test photos at 1920 px: method 5 takes 10 %
# longer for 1-3 % fewer bytes, method 6 twice as long for 4-7 % fewer.
WEBP_METHOD = 4
# When shrinking by 2x this or more, Pillow first reduces by a whole factor (a box filter), then
# resamples: its docs call 3.0 indistinguishable from a plain LANCZOS, at a fraction of the cost
# for very large sources.
REDUCING_GAP = 3.0

# Every output fits every format: WebP stores at most 16383 px per side (libwebp refuses more),
# and that bound is applied to AVIF too. A variant is also at most MAX_ASPECT times as tall as
# its width budget, so that the "small" of a 600x20000 scroll stays small (and encodable); the
# usual portraits (3:4, 9:16, 1:2) are never affected.
MAX_SIDE = 16383
MAX_ASPECT = 4

_Job = tuple[str, str, Image.Image, int]  # name, format, image, quality
_CONTENT_TYPES = {"webp": "image/webp", "avif": "image/avif"}


def thumbnail(img: Image.Image) -> Rendered:
    """150x150, cropped to cover from the centre, WebP quality 70. Small sources are enlarged:
    the listing shows every thumbnail at the same size."""
    source = _pillow.rgb_or_rgba(img)
    thumb = ImageOps.fit(
        source,
        (THUMBNAIL_SIZE, THUMBNAIL_SIZE),
        method=Image.Resampling.LANCZOS,
        centering=(0.5, 0.5),
    )
    return _encode("thumbnail", "webp", thumb, THUMBNAIL_QUALITY, DEFAULT_AVIF_SPEED)


def variants(
    img: Image.Image, *, avif_speed: int = DEFAULT_AVIF_SPEED, workers: int = 1
) -> list[Rendered]:
    """small/medium/large, each as WebP and AVIF, in that order (6 items).

    Never enlarged: a variant is at most as wide as the image. Resized as a cascade, large from
    the image, medium from large, small from medium, so every resize starts from the nearest
    larger result. With workers > 1 the encodes run in a thread pool (both encoders release the
    GIL) while the next, smaller size is being resized."""
    source = _pillow.rgb_or_rgba(img)
    # AVIF's encoder threads share the CPUs with the pool's other encodes.
    avif_threads = max(1, _cpu_count() // max(1, workers))

    def encode(job: _Job) -> Rendered:
        name, fmt, image, quality = job
        return _encode(name, fmt, image, quality, avif_speed, avif_threads=avif_threads)

    jobs = _cascade(source)  # lazy: each resize happens when its jobs are taken
    if workers <= 1:
        rendered = [encode(job) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encode") as pool:
            futures = [pool.submit(encode, job) for job in jobs]
        rendered = [future.result() for future in futures]
    by_key = {(r.name, r.format): r for r in rendered}
    return [by_key[(name, fmt)] for name, _, _ in VARIANT_SPECS for fmt in OUTPUT_FORMATS]


def _cascade(source: Image.Image) -> Iterator[_Job]:
    current = source
    # Largest first, and AVIF (the slow one) before WebP, so the longest encode starts first.
    for name, width, quality in reversed(VARIANT_SPECS):
        current = fit_variant(current, width)
        for fmt in reversed(OUTPUT_FORMATS):
            # Each encode gets its own Image object: Image.save() keeps its options on the
            # instance (encoderinfo), which two threads saving one image would overwrite.
            yield name, fmt, current.copy(), quality


def preview_jpeg(img: Image.Image, width: int, *, quality: int = PREVIEW_QUALITY) -> bytes:
    """A JPEG at most `width` wide and tall (never enlarged) for services that want JPEG or PNG
    bytes, such as a labelling API: transparency flattened onto white, no metadata."""
    resized = _pillow.on_white(fit_box(_pillow.rgb_or_rgba(img), width, width))
    buffer = io.BytesIO()
    resized.convert("RGB").save(buffer, "JPEG", quality=quality, exif=b"", icc_profile=None)
    return buffer.getvalue()


def fit_variant(img: Image.Image, width: int) -> Image.Image:
    """img scaled down to a variant's `width`, or less if it is very tall: see MAX_ASPECT."""
    return fit_box(img, width, min(MAX_SIDE, width * MAX_ASPECT))


def fit_box(img: Image.Image, width: int, height: int) -> Image.Image:
    """img scaled down, keeping its aspect ratio, to fit in width x height; img itself if it
    already fits (never enlarged). Neither side drops below 1 px."""
    scale = min(width / img.width, height / img.height)
    if scale >= 1:
        return img
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def _encode(
    name: str,
    fmt: str,
    img: Image.Image,
    quality: int,
    avif_speed: int,
    *,
    avif_threads: int | None = None,
) -> Rendered:
    # Only what is passed here reaches the encoder: no EXIF, XMP or ICC from anywhere.
    img.info = {}
    buffer = io.BytesIO()
    try:
        _save(buffer, fmt, img, quality, avif_speed, avif_threads)
    except (OSError, ValueError) as error:
        # Not an infrastructure fault: retrying the same pixels fails the same way. The sizes
        # above keep valid images inside every encoder's limits; this is the last net.
        raise ImagingError(
            ErrorCode.ENCODE_FAILED, f"cannot encode the {name} {fmt.upper()}: {error}"
        ) from error
    return Rendered(
        name=name,
        format=fmt,
        width=img.width,
        height=img.height,
        data=buffer.getvalue(),
        content_type=_CONTENT_TYPES[fmt],
    )


def _save(
    buffer: io.BytesIO,
    fmt: str,
    img: Image.Image,
    quality: int,
    avif_speed: int,
    avif_threads: int | None,
) -> None:
    if fmt == "webp":
        img.save(
            buffer,
            "WEBP",
            quality=quality,
            method=WEBP_METHOD,
            exif=b"",
            xmp=b"",
            icc_profile=b"",
        )
    else:
        img.save(
            buffer,
            "AVIF",
            quality=quality,
            speed=avif_speed,
            max_threads=avif_threads or _cpu_count(),
            exif=b"",
            xmp=b"",
            icc_profile=b"",
        )


def _cpu_count() -> int:
    # What the function may use (Lambda: 1 vCPU per 1769 MB), not what the host has.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
